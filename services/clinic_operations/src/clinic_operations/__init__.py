"""AWS Lambda handler creating clinic visits for on-site bookings."""
