"""Providers and their availability; answers booking requests."""
