"""Elders, responders and incidents: the SOS intake and, later, dispatch itself."""
