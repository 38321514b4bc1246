"""The schedule's rules, free of I/O: providers, their slots and who may hold a slot."""
