"""Every answer stays small whatever the library holds: a data folder with 2,000 comics (one
family 400 versions deep, every prompt as long as allowed) and 500 finished runs.

Claude Desktop refuses a tool result over 1 MiB and clients warn past about 25,000 tokens, and
``library_status`` is the first call of every conversation, so it must stay a few KB.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_types import CallToolResult
from photocomic.server.mcp_answers import comics_answer
from photocomic.tools.comics.comic_store import ComicStore
from photocomic.tools.comics.contract import ComicRecord
from photocomic.tools.contract import MAX_PROMPT
from photocomic.tools.errors import InvalidInput
from photocomic.tools.owner.engine import Engine
from PIL import Image
from test_security_roots import call, door

TOKENS_BUDGET = 100_000  # bytes: about 25,000 tokens
STATUS_BUDGET = 6_000
CHAIN = 400
COMICS = 2_000
JOBS = 500


def _png() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((512, 512)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("busy") / "data"
    shelf, png, long = ComicStore(data / "comics"), _png(), "x" * MAX_PROMPT
    parent: str | None = None
    for n in range(COMICS):
        in_chain = n < CHAIN
        record = ComicRecord(
            comic_id=f"c{n:010x}", parent_id=parent if in_chain else None,
            path=str(shelf.image_path(f"c{n:010x}")), prompt=long, user_prompt=long,
            story=long, changes=[f"change {k}" for k in range(n)] if in_chain else [],
            style="ghibli", panels=4, model="gpt-image-2", size="1024x1024", quality="auto",
            backend="openai", created_at=f"2026-12-01T00:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        )  # fmt: skip
        shelf.write(record, png)
        parent = record.comic_id if in_chain else parent
    jobs = data / "jobs"
    jobs.mkdir(parents=True)
    for n in range(JOBS):
        job = {
            "job_id": f"g{n:08x}", "kind": "comic", "library": "x", "state": "done",
            "started_at": "2026-12-01T00:00:00+00:00", "finished_at": "2026-12-01T00:01:00+00:00",
            "origin": {"settings": {"data_dir": str(data)}, "roots": None},
        }  # fmt: skip
        (jobs / f"{job['job_id']}.json").write_text(json.dumps(job))
    engine = Engine(data)
    try:
        engine.resume()
        yield {"engine": engine, "who": door(data, None), "chain_end": f"c{CHAIN - 1:010x}"}
    finally:
        engine.close()


def _size(answer: Any) -> int:
    return len(answer.model_dump_json())


def _mcp_size(answer: CallToolResult) -> int:
    return len(answer.model_dump_json())


def test_library_status_stays_a_few_kb(busy: dict[str, Any]) -> None:
    status = call(busy["engine"], busy["who"], "library_status")
    assert status.comics == COMICS and status.jobs == []
    assert _size(status) < STATUS_BUDGET


def test_listings_page_and_stay_under_budget(busy: dict[str, Any]) -> None:
    engine, who = busy["engine"], busy["who"]
    comics = call(engine, who, "list_comics", limit=100)
    assert comics.total == COMICS and comics.next_offset == 100
    shown = comics_answer(comics)  # what the MCP client gets
    assert _mcp_size(shown) < TOKENS_BUDGET and "list_comics(offset=100)" in shown.content[0].text
    last = call(engine, who, "list_comics", limit=100, offset=COMICS - 50)
    assert len(last.comics) == 50 and last.next_offset is None
    jobs = call(engine, who, "list_jobs", limit=100)
    assert _size(jobs) < TOKENS_BUDGET and len(jobs.jobs) <= 100


def test_a_deep_family_answers_with_a_bounded_lineage(busy: dict[str, Any]) -> None:
    lineage = call(busy["engine"], busy["who"], "app_comic_lineage", comic_id=busy["chain_end"])
    assert len(lineage.steps) <= 10 and len(lineage.tree) <= 40
    assert _size(lineage) < 1024 * 1024


def test_an_unbounded_text_is_refused_at_once(busy: dict[str, Any]) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as refused:
        call(busy["engine"], busy["who"], "find_photos", text="dog " * 250_000)
    assert time.perf_counter() - started < 1 and len(str(refused.value)) < 300
