"""The live event-flow page: server-rendered with htmx, pushed to the browser as SSE.

Every change (a hop, new dead-letter depths) renders the affected panel again on the server
and sends it as one server-sent event; htmx's SSE extension swaps it in. The browser runs no
code of ours, and nothing is fetched from a CDN: htmx is vendored under ``static/``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from devstack.flow import topology
from devstack.flow.feed import DEAD_LETTER_TOPICS
from devstack.flow.hops import Journeys, Record, State
from devstack.flow.story import (
    ENCOUNTER_TYPES,
    PAYMENT_MODES,
    SPECIALITIES,
    StoryClient,
    StoryError,
    StoryRequest,
)

HERE = Path(__file__).parent
# The symbol beside each state's word: states differ in shape and text, not only in colour.
STATE_SYMBOLS: dict[State, str] = {
    # Glyphs the common fonts (DejaVu) carry: a missing one would draw as an empty box.
    State.WAITING: "◔",
    State.CONFIRMED: "✔",
    State.REJECTED: "✘",
    State.EXPIRED: "◌",
    State.CANCELLED: "⊘",
}


@dataclass
class WireState:
    """What the page shows, shared by the feed's thread and the server's event loop."""

    journeys: Journeys = field(default_factory=Journeys)
    dead_letters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(DEAD_LETTER_TOPICS, 0)
    )
    records_per_topic: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Broadcast:
    """Tells every open page that a panel changed (panel names, not content: each page
    renders the panel when it sends it, so a slow page never queues stale copies)."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[str]] = set()

    def listen(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=64)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[str]) -> None:
        self._listeners.discard(queue)

    def changed(self, panel: str) -> None:
        for queue in self._listeners:
            if queue.full():
                continue  # that page is behind; the panels it has pending render fresh anyway
            queue.put_nowait(panel)


# Starts the wire feed; returns what stops it (the composition root passes the real one).
RecordSink = Callable[[Record], None]
DepthSink = Callable[[dict[str, int]], None]
FeedStarter = Callable[[RecordSink, DepthSink], Callable[[], None]]


def create_app(
    *,
    state: WireState,
    start_feed: FeedStarter,
    story: StoryClient,
    jaeger_url: str | None = None,
) -> FastAPI:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(
        topology=topology, symbols=STATE_SYMBOLS, jaeger_url=jaeger_url, State=State
    )
    broadcast = Broadcast()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def on_record(record: Record) -> None:
            with state.lock:
                state.records_per_topic[record.topic] = (
                    state.records_per_topic.get(record.topic, 0) + 1
                )
                moved = state.journeys.add(record) is not None
            loop.call_soon_threadsafe(broadcast.changed, "topology")
            if moved:
                loop.call_soon_threadsafe(broadcast.changed, "journeys")

        def on_depths(depths: dict[str, int]) -> None:
            with state.lock:
                changed = depths != state.dead_letters
                state.dead_letters = depths
            if changed:
                loop.call_soon_threadsafe(broadcast.changed, "dead-letters")

        stop_feed = await asyncio.to_thread(start_feed, on_record, on_depths)
        try:
            yield
        finally:
            await asyncio.to_thread(stop_feed)

    app = FastAPI(title="Care Plan event flow", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def snapshot() -> dict[str, object]:
        with state.lock:
            return {
                "journeys": state.journeys.latest(),
                "dead_letters": dict(state.dead_letters),
                "counts": dict(state.records_per_topic),
            }

    def panel(request: Request, name: str) -> str:
        return templates.get_template(f"{name}.html").render(request=request, **snapshot())

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "page.html",
            {
                **snapshot(),
                "specialities": SPECIALITIES,
                "encounter_types": ENCOUNTER_TYPES,
                "payment_modes": PAYMENT_MODES,
            },
        )

    @app.get("/events", response_class=EventSourceResponse)
    async def events(request: Request) -> AsyncIterator[ServerSentEvent]:
        queue = broadcast.listen()
        try:
            while True:
                try:
                    name = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ServerSentEvent(comment="keep-alive")
                    continue
                # Coalesce a burst: each panel is sent once with everything that happened.
                names = {name}
                while not queue.empty():
                    names.add(queue.get_nowait())
                for each in sorted(names):
                    yield ServerSentEvent(event=each, raw_data=_one_line(panel(request, each)))
        finally:
            broadcast.forget(queue)

    @app.post("/story", response_class=HTMLResponse)
    async def play_story(
        request: Request,
        speciality: Annotated[str, Form()],
        encounter_type: Annotated[str, Form()],
        payment_mode: Annotated[str, Form()],
    ) -> HTMLResponse:
        try:
            result = await story.play(StoryRequest(speciality, encounter_type, payment_mode))
        except (StoryError, httpx.HTTPError) as error:
            return templates.TemplateResponse(
                request, "story_failed.html", {"error": str(error)}, status_code=200
            )
        return templates.TemplateResponse(request, "story.html", {"story": result})

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def _one_line(html: str) -> str:
    """SSE data lines end at a newline: a fragment goes as one line (HTML does not care)."""
    return " ".join(line.strip() for line in html.splitlines() if line.strip())
