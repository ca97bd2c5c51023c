"""Changes to controlled fields of a record: requested with proof, reviewed, then applied (CHG-1..4)."""
