"""AWS Lambda handler telling patients that a booking was confirmed or cancelled (Amazon SES)."""
