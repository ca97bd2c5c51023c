"""Continuation (学籍接续, REG-8/REG-9): import a new-student list, match it to earlier-stage records."""
