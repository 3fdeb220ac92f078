"""Daily check-ins and the inactivity timer (issue 14, docs/checkins.md)."""
