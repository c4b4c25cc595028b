"""What the command line's commands share: waiting for a job, printing JSON, reading photo
ids and paths from the command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from photocomic.tools.owner.client import Door
from photocomic.tools.owner.contract import CancelJob, JobSnapshot, JobStatus
from pydantic import BaseModel

POLL = 1.0  # seconds each progress poll may wait for news from the engine


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def photo_items(items: list[str]) -> list[int | str]:
    """Photo ids stay numbers; paths become absolute (the engine runs elsewhere)."""
    return [int(i) if i.strip().isdigit() else os.path.abspath(i) for i in items]


def follow(door: Door, job: JobSnapshot, show: Any = None) -> JobSnapshot:
    """Wait for a job, passing every change to ``show``; Ctrl-C cancels a job we started."""
    try:
        while job.state in ("queued", "running"):
            if show is not None:
                show(job)
            request = JobStatus(job_id=job.job_id, wait=POLL, since=job.changes)
            job = door.call(request)
    except KeyboardInterrupt:
        if not job.joined:
            door.call(CancelJob(job_id=job.job_id))
        raise
    return job
