"""The middleware stack both HTTP services run behind, in its order: the key check outside
admission (an anonymous caller gets 401, never 429), the request metrics outside both (they
count the 401s), and the health endpoints open to anyone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from eventing.admission import AdmissionMonitor, Backlog, Verdict
from eventing.health import ReadinessCheck
from eventing.http_metrics import REQUESTS
from eventing.http_service import install_platform_http, traced_app
from eventing.settings import LOCAL_API_KEY, AuthSettings, Environment
from telemetry import Tracing, configure_tracing

GUARDED = "/things"


@dataclass(frozen=True)
class Settings:
    environment: Environment = Environment.LOCAL
    api_key: SecretStr = field(default_factory=lambda: SecretStr(LOCAL_API_KEY))
    auth: AuthSettings = field(default_factory=AuthSettings)
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = 8000


@dataclass(frozen=True)
class Container:
    settings: Settings
    readiness: dict[str, ReadinessCheck]
    informational: dict[str, ReadinessCheck]
    admission: AdmissionMonitor


async def _no_backlog() -> Backlog:
    return Backlog()


def _guarded(method: str, path: str) -> str | None:
    return GUARDED if method == "POST" and path == GUARDED else None


def _client(
    *, shedding: bool, workers: ReadinessCheck | None = None, tracing: Tracing | None = None
) -> httpx.AsyncClient:
    """A client of an app with one guarded route behind the platform's stack, as served."""
    app = FastAPI()

    @app.post(GUARDED, status_code=201)
    async def create() -> dict[str, str]:
        return {"created": "yes"}

    monitor = AdmissionMonitor(_no_backlog, service="test-service", budget_seconds=1.0)
    if shedding:
        # Every guarded write refused, as after a sample over budget.
        monitor.verdict = Verdict(closed=True, retry_after_seconds=1, reason="over budget")
    install_platform_http(
        app,
        service="test-service",
        container=Container(Settings(), readiness={}, informational={}, admission=monitor),
        guarded=_guarded,
        workers=workers,
    )
    served = traced_app(app, tracing or Tracing())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://service")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(shedding=True) as http:
        yield http


def _unauthenticated_posts() -> float:
    return REQUESTS.labels("POST", "unauthenticated", "401")._value.get()


async def test_an_anonymous_write_is_refused_401_even_while_writes_are_shed(
    client: httpx.AsyncClient,
) -> None:
    counted = _unauthenticated_posts()
    assert (await client.post(GUARDED)).status_code == 401
    # The metrics sit outside the key check: the refusal is counted.
    assert _unauthenticated_posts() == counted + 1


async def test_an_authenticated_write_is_shed_with_429(client: httpx.AsyncClient) -> None:
    response = await client.post(GUARDED, headers={"X-API-KEY": LOCAL_API_KEY})
    assert response.status_code == 429
    assert response.headers["Retry-After"]


async def test_the_health_endpoints_need_no_key_and_say_the_service_sheds(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["degraded"] is True


async def test_the_workers_readiness_is_part_of_the_services() -> None:
    async def workers_down() -> None:
        raise RuntimeError("the relay stopped")

    async with _client(shedding=False, workers=workers_down) as http:
        ready = await http.get("/health/ready")
    assert ready.status_code == 503, ready.text
    assert "workers" in ready.json()["checks"]


@pytest.mark.parametrize("shedding", [True, False])
async def test_a_shed_write_gets_no_server_span_an_admitted_one_does(shedding: bool) -> None:
    """A refused write's span cost the CPU the admitted bookings needed (tracing on, 5x)."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("test-service", exporter=exporter)
    async with _client(shedding=shedding, tracing=tracing) as http:
        answer = await http.post(GUARDED, headers={"X-API-KEY": LOCAL_API_KEY})
    assert answer.status_code == (429 if shedding else 201)
    spans = [span.name for span in exporter.get_finished_spans()]
    assert spans == ([] if shedding else [f"POST {GUARDED}"])
