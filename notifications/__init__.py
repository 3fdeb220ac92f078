"""Outgoing messages: push devices, message texts in Thai and English, channels."""
