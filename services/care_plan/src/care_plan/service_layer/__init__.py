"""The use cases: handlers run each command inside a unit of work."""
