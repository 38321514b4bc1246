from eventing.consumer import RetryPolicy


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_backoff_seconds=0.1, max_backoff_seconds=0.5)

    assert [policy.backoff(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
