"""``python -m provider_schedule`` starts the service (migrations run before, separately)."""

from provider_schedule.main import run

if __name__ == "__main__":
    run()
