"""How a consumer joins its group so that a restarted replica consumes again within seconds.

The problem: a member that dies without leaving (SIGKILL, an OOM kill, a lost node) keeps its
partitions until its session times out; with librdkafka's default of 45 s, a restarted Care
Plan waited 45-48 s for ``partitions assigned``.

The choice, measured on Kafka 4.1.1 with confluent-kafka 2.12.2 (librdkafka 2.12.1) by
``bench/consumer_restart.py`` on the loaded 2-core machine (a consumer of a 6-partition topic;
``kill``: SIGKILL, start again, seconds from the new process's start to its first record;
``rolling``: the same after SIGTERM and ``close()``; ``handover``: two members, SIGTERM one,
seconds until the other holds all six partitions):

===============================================  =================  =======  ========
membership                                       kill               rolling  handover
===============================================  =================  =======  ========
classic, dynamic, default 45 s session (before)  44.98              0.21     2.01
classic, dynamic, 6 s session                    5.98               -        -
classic, static, 6 s session (chosen)            0.84 (0.67-0.95)   0.91     7.02
KIP-848 ``group.protocol=consumer``, dynamic     45.15              0.21     4.01
KIP-848, static                                  never (fatal)      0.21     44.01
===============================================  =================  =======  ========

Static membership (KIP-345) is what makes a restart cheap: the replica comes back under the
same ``group.instance.id``, the coordinator hands it the dead member's assignment at once,
without waiting for the session to expire and without a rebalance of the other members. The
KIP-848 protocol alone does not help a killed member: its session timeout is the broker's
``group.consumer.session.timeout.ms`` (45 s, and no group may go below the broker's 45 s
minimum), so the replacement waits for the dead member's partitions just as long; with an
instance id as well, the replacement is refused with the fatal UNRELEASED_INSTANCE_ID ("the
instance ID is still used by another member") until that session expires, and librdkafka's
consumer does not recover from a fatal error. The classic protocol lets the client choose
``session.timeout.ms`` down to the broker's ``group.min.session.timeout.ms`` (6 s), which
bounds the other case too: a replica that is gone for good (a scale-down, a node lost for
longer) releases its partitions after 6 s.

The price of static membership: librdkafka's ``close()`` does not send LeaveGroup for a static
member (that is the point: a rolling restart does not rebalance), so after SIGTERM without a
return the partitions move to the other replicas when the 6 s session expires, not at once
(``handover`` above). A rolling restart under the same identity (a pod restarted in place, a
part restarted by the launcher) rejoins within a second, and the other members never rebalance.

The identity of a replica, in order: ``CONSUMER_INSTANCE_ID`` (the launcher sets
``<component>-<replica index>``); on Kubernetes the pod name (``HOSTNAME``, stable for a
StatefulSet's pods, new for a Deployment's: a new pod then joins as a new static member, and
the old one's partitions move after the 6 s session); otherwise none, and the consumer is a
dynamic member with the same short session. The group's name is appended, so one process with
two groups (Care Plan) carries two readable ids.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Kafka's group.min.session.timeout.ms: the shortest session a classic group accepts.
BROKER_MIN_SESSION_TIMEOUT_MS = 6000


class MembershipSettings(BaseSettings):
    """Where a replica's stable identity comes from; read from the environment."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    consumer_instance_id: str | None = None
    # A pod's name; only trusted on Kubernetes, since shells set HOSTNAME to the machine's name,
    # which two local processes share.
    hostname: str | None = Field(default=None, validation_alias=AliasChoices("HOSTNAME"))
    kubernetes_service_host: str | None = None
    consumer_session_timeout_ms: int = Field(
        default=BROKER_MIN_SESSION_TIMEOUT_MS, ge=BROKER_MIN_SESSION_TIMEOUT_MS
    )

    def instance_id(self) -> str | None:
        if self.consumer_instance_id:
            return self.consumer_instance_id
        if self.kubernetes_service_host and self.hostname:
            return self.hostname
        return None


def fast_resume_config(group_id: str) -> dict[str, str]:
    """librdkafka settings that let a restarted consumer of ``group_id`` resume within seconds.

    Merge them into the consumer's configuration (they set no ``group.id``)::

        Consumer({**client_config, "group.id": group, **fast_resume_config(group)})
    """
    settings = MembershipSettings()
    session_ms = settings.consumer_session_timeout_ms
    config = {
        "group.protocol": "classic",
        "session.timeout.ms": str(session_ms),
        # A third of the session, as Kafka advises: two heartbeats may be lost before the
        # coordinator gives up on the member.
        "heartbeat.interval.ms": str(session_ms // 3),
    }
    instance = settings.instance_id()
    if instance is not None:
        config["group.instance.id"] = f"{instance}/{group_id}"
    return config


# Kafka Streams' default for exactly-once: an open transaction of a producer that died and
# whose id is not reused is aborted by the broker after this long.
TRANSACTION_TIMEOUT_MS = 10_000


def transactional_config(group_id: str) -> dict[str, str]:
    """librdkafka settings for the transactional producer of an exactly-once consumer of
    ``group_id``: what a restarted replica does with the transaction its dead predecessor left.

    A producer killed inside a transaction leaves it open, and with it the offsets it was
    committing for the group: until it ends, the broker answers the group's offset fetch with
    UNSTABLE_OFFSET_COMMIT and read_committed readers stop at it. Quix Streams gives each
    process a random ``transactional.id``, so only ``transaction.timeout.ms`` (librdkafka's
    default: 60 s) ends it. Under the replica's stable identity the new producer's
    ``init_transactions`` fences the dead one and aborts its transaction; without an identity
    (a new pod replacing a dead one) the shorter timeout bounds the wait.

    Measured (bench/service_restart.py, 2 loaded cores): the Insurance Processor's restart to
    first record stayed at ~12 s with this, so that wait was not where its time went: it went
    to Quix's watermark queries on assignment (``insurance_processor.app.ASSIGNMENT_QUERY_CONFIG``).
    """
    config = {"transaction.timeout.ms": str(TRANSACTION_TIMEOUT_MS)}
    instance = MembershipSettings().instance_id()
    if instance is not None:
        config["transactional.id"] = f"{instance}/{group_id}"
    return config
