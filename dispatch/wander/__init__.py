"""Safe zones and wander detection (issue 14)."""
