"""Forwards booking topics to Amazon EventBridge."""
