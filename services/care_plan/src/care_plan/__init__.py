"""Patients, the availability read model, search and the booking saga."""
