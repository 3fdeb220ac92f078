"""The live channel: per-process fan-out of committed events to WebSocket subscribers."""
