"""Delivery channels behind one small protocol: FCM, an SMS webhook, and the log."""
