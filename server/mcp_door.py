"""The MCP server's state between calls: its settings and its link to the library's owner.

Each MCP server is one door. It holds no store and no model: every call goes to the engine of
its data folder with this server's roots, and a heartbeat keeps a lease on the engine so the
model stays loaded while the client (Claude Desktop, an IDE) is open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context
from photocomic.tools.config import Settings
from photocomic.tools.contract import Ask
from photocomic.tools.find.contract import CheckUnderWay
from photocomic.tools.owner.client import Door
from photocomic.tools.owner.contract import Hello, JobSnapshot, JobStatus
from photocomic.tools.policy import check_wait
from pydantic import BaseModel

log = logging.getLogger("photocomic.server")

T = TypeVar("T", bound=BaseModel)
C = TypeVar("C", bound=CheckUnderWay)
LEASE = 180.0  # seconds the engine stays up for this server after each call or heartbeat
HEARTBEAT = 60.0
PROGRESS_EVERY = 5.0  # seconds between progress notifications when nothing changes
BEAT = 2.0  # seconds between progress notifications of one long call


@dataclass
class McpDoor:
    settings: Settings
    door: Door
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: Settings, kind: str) -> McpDoor:
        roots = [str(r) for r in settings.roots]
        return cls(settings, Door(settings, kind=kind, roots=roots, lease=LEASE))

    async def call(self, request: Ask[T]) -> T:
        """The operation ``request`` names, off the event loop."""
        return await anyio.to_thread.run_sync(lambda: self.door.call(request))

    async def keep_alive(self) -> None:
        """Start the engine (it opens the store and loads the model meanwhile), then renew the
        lease while this server runs. Errors wait for a tool call, which reports them."""
        await anyio.sleep(0.5)  # the client's handshake and tools/list go first
        while not self.stopped:
            try:
                await self.call(Hello())
            except Exception as exc:
                log.debug("heartbeat: %s", exc)
            await anyio.sleep(HEARTBEAT)

    def close(self) -> None:
        self.stopped = True
        self.door.close()


def door_of(ctx: Context) -> McpDoor:
    """The typed state the server's lifespan set up."""
    return ctx.request_context.lifespan_context  # type: ignore[no-any-return]


async def quietly(send: Callable[[], Any]) -> None:
    """Send a notification; a client that went away must not fail the work."""
    try:
        await send()
    except Exception as exc:
        log.debug("notification not sent: %s", exc)


async def until_answered(ctx: Context, request: Ask[C], wait: float) -> C:
    """Ask for a check that goes on without the call (duplicates in a large library) until it
    is done or ``wait`` seconds have passed, a progress notification at each answer, so the
    person sees it is alive and clients that reset their time-out on progress keep waiting."""
    check_wait(wait)
    door = door_of(ctx)
    deadline, last = anyio.current_time() + wait, -1.0
    while True:
        left = max(0.0, deadline - anyio.current_time())
        answer = await door.call(request.model_copy(update={"wait": min(left, BEAT)}))
        if answer.state == "done":
            return answer
        last = max(last + 0.001, answer.progress or 0.0)  # a notification's value must grow
        await quietly(partial(ctx.report_progress, last, 1.0, answer.stage))
        if left <= 0:
            return answer


async def run_job(ctx: Context, request: Ask[JobSnapshot], wait: float) -> JobSnapshot:
    """Start (or look up) a job and follow it for up to ``wait`` seconds."""
    check_wait(wait)
    return await follow(ctx, await door_of(ctx).call(request), wait)


async def follow(ctx: Context, job: JobSnapshot, wait: float) -> JobSnapshot:
    """Wait up to ``wait`` seconds for a job, with a progress notification on every change
    (and every few seconds) so the person sees the call is alive and clients that reset their
    time-out on progress keep waiting."""
    door = door_of(ctx)
    started = anyio.current_time()
    deadline, sent = started + wait, started
    progress = _Progress(ctx, started)
    await progress.send(job)
    while job.state in ("queued", "running"):
        left = deadline - anyio.current_time()
        if left <= 0:
            break
        request = JobStatus(job_id=job.job_id, wait=min(left, 1.0), since=job.changes)
        before = job.changes
        job = await door.call(request)
        now = anyio.current_time()
        if job.changes != before or now - sent >= PROGRESS_EVERY:
            await progress.send(job)
            sent = now
    return job


@dataclass
class _Progress:
    """Progress notifications whose value always grows, as the protocol requires: photos
    done for an index run (a hair more on a heartbeat), seconds drawn for a comic."""

    ctx: Context
    started: float
    last: float = -1.0

    async def send(self, job: JobSnapshot) -> None:
        if job.kind == "comic":
            value, total = round(anyio.current_time() - self.started, 1), None
        else:
            value, total = float(job.done), (float(job.total) if job.total else None)
        if value <= self.last:
            if job.state not in ("queued", "running"):
                return  # the last notification already said it all
            value = self.last + 0.001
        self.last = value
        await quietly(lambda: self.ctx.report_progress(value, total, job.message))
