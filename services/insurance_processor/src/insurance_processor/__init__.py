"""Quix Streams app routing insured bookings."""
