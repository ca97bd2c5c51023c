"""Stored files: photos, proof material and uploaded import lists, addressed by content hash."""
