"""Kafka: the availability projector, the booking reply handler, the expiry sweeper, and the
mapping of domain events onto the contract's topics."""
