"""Status changes other than transfer (非转学异动, STA-1..5): requested by the school, reviewed, then applied.

``rules`` holds the pure part (which status each type starts from and leads to, the grade it moves to,
the facts each type must state); ``service`` the request and its review's outcome on the approval
engine; ``queries`` the lists within jurisdiction, including compulsory-education dropouts (STA-4, STA-5).
"""
