"""Acknowledgement of early warnings: a unit confirms receipt through the signed link it was sent."""
