"""The append-only event log: the source of truth for timelines and the live channel."""
