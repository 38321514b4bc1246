"""The backlog table of ``careplan status``: each consumer group's lag, each queue's depth."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import KafkaException
from rich.table import Table

from devstack.backlog import consumer_lags, queue_depths
from devstack.moto import aws_client
from devstack.settings import DevstackSettings


def backlog_table(settings: DevstackSettings) -> Table:
    """What is waiting where; a part that is down shows as unreachable, not as an error."""
    table = Table(title="Backlog", caption="lag: records not yet committed; queue: messages")
    for column in ("consumer group / queue", "waiting", "detail"):
        table.add_column(column)
    try:
        for group in consumer_lags(settings.bootstrap_servers, timeout=3):
            style = "green" if group.lag == 0 else "yellow"
            detail = f"{group.behind} partitions behind" if group.behind else ""
            table.add_row(f"group {group.group}", f"[{style}]{group.lag}[/]", detail)
    except KafkaException as error:
        table.add_row("kafka", "[dim]unreachable[/]", str(error)[:60])
    try:
        sqs: Any = aws_client(settings, "sqs")
        for queue in queue_depths(sqs):
            style = "green" if queue.total == 0 else "yellow"
            detail = f"{queue.visible} visible, {queue.in_flight} in flight"
            table.add_row(f"queue {queue.name}", f"[{style}]{queue.total}[/]", detail)
    except (BotoCoreError, ClientError) as error:
        table.add_row("moto", "[dim]unreachable[/]", str(error)[:60])
    return table
