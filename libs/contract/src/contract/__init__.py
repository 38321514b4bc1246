"""The wire contract: topics, event types and payload models shared by every service."""
