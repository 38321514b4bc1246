"""CloudEvent ``source`` attributes (CONTRACT.md section 1)."""

PROVIDER_SCHEDULE = "/provider-schedule"
CARE_PLAN = "/care-plan"
INSURANCE_PROCESSOR = "/insurance-processor"
