"""End to end through the real MCP client: ``photocomic serve`` spawned over stdio (and HTTP).

One server per module (spawning it and loading the model take seconds); tests run in file
order against it: index, search, comics, then everything hostile, then a check that the API
key appears in no answer and no log line.
"""

from __future__ import annotations

import base64
import io
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port, scene, write_photos
from mcp_session import (
    HTTP_HEADERS,
    HTTP_INITIALIZE,
    McpSession,
    ok,
    serve_command,
    server_env,
    text_of,
)
from openai_double import OpenAIDouble
from PIL import Image

API_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"
UPLOAD_LIMIT = 1_000_000


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Photo root (with a near-duplicate and two symlinks that leave it), an outside folder."""
    base = tmp_path_factory.mktemp("mcp")
    root = base / "photos"
    write_photos(root, 12)
    write_photos(root / "trip", 6, start=100)
    scene(0).resize((320, 240)).save(root / "copy_of_0000.jpg", "JPEG", quality=60)
    outside = base / "outside"
    write_photos(outside, 1, prefix="secret")
    (root / "escape.jpg").symlink_to(outside / "secret_0000.jpg")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    return {"base": base, "root": root, "outside": outside, "data": base / "data"}


@pytest.fixture(scope="module")
def api() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as double:
        yield double


@pytest.fixture(scope="module")
def server(place: dict[str, Path], api: OpenAIDouble) -> Iterator[McpSession]:
    log_path = place["base"] / "server-stderr.log"
    env = server_env(
        place["data"],
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=api.base_url,
        PHOTOCOMIC_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
        PHOTOCOMIC_IMAGE_RETRIES="0",
    )
    with (
        open(log_path, "w") as errlog,
        McpSession.stdio(serve_command("--root", str(place["root"])), env, errlog) as session,
    ):
        started = time.perf_counter()
        session.tools = session.list_tools().tools  # type: ignore[attr-defined]
        session.list_seconds = time.perf_counter() - session.started  # type: ignore[attr-defined]
        session.list_only = time.perf_counter() - started  # type: ignore[attr-defined]
        yield session
    session.stderr = log_path.read_text()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def indexed(server: McpSession, place: dict[str, Path]) -> dict[str, Any]:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    answer = server.call("index_folder", {"path": str(place["root"])}, progress=on_progress)
    assert not answer.is_error, text_of(answer)
    return {"answer": answer, "progress": progress}


def photo_id(server: McpSession, path: Path) -> int:
    hits = ok(server.call("search_similar", {"image": str(path), "limit": 1}))["hits"]
    assert hits[0]["path"] == str(path)
    return int(hits[0]["photo_id"])


def sheet_of(answer: Any) -> Image.Image:
    images = [b for b in answer.content if b.type == "image"]
    assert len(images) == 1, "exactly one contact sheet"
    assert images[0].mime_type == "image/jpeg"
    data = base64.b64decode(images[0].data)
    assert 2_000 < len(data) < 100_000, f"contact sheet of {len(data)} bytes"
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


# -- start-up, tools, index ---------------------------------------------------------------------


def test_tools_list_answers_quickly_with_schemas(server: McpSession) -> None:
    tools = {t.name: t for t in server.tools}  # type: ignore[attr-defined]
    assert {
        "index_folder", "index_status", "search_similar", "find_photos", "find_duplicates",
        "generate_comic", "comic_status", "list_comics", "library_status",
    } <= set(tools)  # fmt: skip
    print(f"tools/list answered {server.list_seconds:.2f} s after launch")  # type: ignore[attr-defined]
    assert server.list_seconds < 8.0  # type: ignore[attr-defined]  (about 2 s on a quiet machine)
    for tool in tools.values():
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        assert tool.description
    assert tools["search_similar"].annotations.read_only_hint is True
    assert tools["find_photos"].annotations.read_only_hint is True
    assert tools["library_status"].annotations.read_only_hint is True
    assert tools["index_folder"].annotations.read_only_hint is False
    assert tools["index_folder"].annotations.destructive_hint is False
    assert tools["generate_comic"].annotations.open_world_hint is True
    hit_fields = tools["search_similar"].output_schema["$defs"]["SearchHit"]["properties"]
    assert {"rank", "photo_id", "path", "score", "taken_at", "width", "height"} <= set(hit_fields)


def test_status_before_and_resources_and_prompt(server: McpSession, place: dict[str, Path]) -> None:
    status = ok(server.call("library_status"))
    assert status["roots"] == [str(place["root"])]
    assert str(place["data"]) in status["db"]
    templates = {t.uri_template for t in server.templates().resource_templates}
    assert {"photo://{photo_id}/thumbnail", "comic://{comic_id}"} <= templates
    assert "photo_comic" in {p.name for p in server.prompts().prompts}
    prompt = server.prompt("photo_comic", {"subject": "our dog Cola", "style": "manga"})
    text = prompt.messages[0].content.text
    for step in ("find_photos", "search_similar", "like=", "generate_comic", "refine="):
        assert step in text


def test_index_folder_reports_progress_and_summary(indexed: dict[str, Any]) -> None:
    job = ok(indexed["answer"])
    assert job["state"] == "done"
    summary = job["summary"]
    assert set(summary) == {
        "scanned", "added", "updated", "unchanged", "removed", "failed", "seconds",
    }  # fmt: skip
    assert summary["added"] == 19  # 12 + 6 + the near-duplicate; no file from outside the root
    failed = {Path(f["path"]).name: f["error"] for f in summary["failed"]}
    assert "outside" in failed["escape.jpg"] and "outside" in failed["escape_dir"]
    assert indexed["progress"], "progress notifications while indexing"
    assert indexed["progress"][-1][0] == indexed["progress"][-1][1] == 19


def test_index_continues_in_background_and_is_polled(
    server: McpSession, indexed: dict[str, Any], place: dict[str, Path]
) -> None:
    started = ok(server.call("index_folder", {"path": "trip", "wait_seconds": 0}))
    assert started["state"] in ("queued", "running", "done")
    assert started["job_id"].startswith("j")
    if started["state"] != "done":
        # still running (it says how to poll), or already done: an unchanged folder's
        # re-scan reads the saved file states and can end within milliseconds
        status = server.call("index_status", {"job_id": started["job_id"]})
        assert "index_status" in text_of(status) or ok(status)["state"] == "done"
    final = ok(server.call("index_status", {"job_id": started["job_id"], "wait_seconds": 30}))
    assert final["state"] == "done"
    assert final["folder"] == str(place["root"] / "trip")
    assert final["summary"]["unchanged"] == 6
    jobs = ok(server.call("list_jobs", {"limit": 100}))["jobs"]
    assert started["job_id"] in {j["job_id"] for j in jobs}
    status = ok(server.call("library_status"))
    assert status["jobs"] == [] and status["finished_jobs"] >= 2, "only runs under way"


# -- search ---------------------------------------------------------------------------------


def test_search_by_image_path(server: McpSession, indexed: dict[str, Any], place: dict) -> None:
    query = place["root"] / "photo_0003.jpg"
    answer = server.call("search_similar", {"image": str(query)})
    found = ok(answer)
    hits = found["hits"]
    assert len(hits) == 6
    assert hits[0]["path"] == str(query) and hits[0]["score"] > 0.99
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5, 6]
    for hit in hits:
        assert {"photo_id", "path", "score", "taken_at", "width", "height"} <= set(hit)
        assert hit["path"].startswith(str(place["root"]))
    assert hits[0]["width"] == 640 and hits[0]["height"] == 480
    sheet = sheet_of(answer)
    assert sheet.width <= 800
    assert "#1" in text_of(answer) and str(hits[0]["photo_id"]) in text_of(answer)


def test_search_by_photo_id_like_and_filters(
    server: McpSession, indexed: dict[str, Any], place: dict
) -> None:
    first = photo_id(server, place["root"] / "photo_0005.jpg")
    found = ok(server.call("search_similar", {"photo_id": first, "limit": 4}))
    assert found["hits"][0]["photo_id"] == first
    assert len(found["hits"]) == 4
    second = found["hits"][1]["photo_id"]
    liked = ok(server.call("search_similar", {"like": [first, second], "limit": 5}))
    ids = [h["photo_id"] for h in liked["hits"]]
    assert first not in ids and second not in ids and len(ids) == 5
    in_trip = ok(server.call("search_similar", {"photo_id": first, "folder": "trip", "limit": 10}))
    assert len(in_trip["hits"]) == 6
    assert all("/trip/" in h["path"] for h in in_trip["hits"])
    later = server.call("search_similar", {"photo_id": first, "taken_after": "2999-01-01"})
    assert ok(later)["hits"] == [] and "No photos" in text_of(later)


def test_search_by_uploaded_image(server: McpSession, indexed: dict[str, Any], place) -> None:
    buffer = io.BytesIO()
    Image.open(place["root"] / "photo_0007.jpg").resize((320, 240)).save(buffer, "JPEG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    found = ok(server.call("search_similar", {"image_base64": encoded, "limit": 3}))
    assert found["hits"][0]["path"] == str(place["root"] / "photo_0007.jpg")
    data_url = ok(
        server.call("search_similar", {"image_base64": "data:image/jpeg;base64," + encoded})
    )
    assert data_url["hits"][0]["path"] == found["hits"][0]["path"]


def test_find_photos_by_label(server: McpSession, indexed: dict[str, Any], place) -> None:
    hit = ok(server.call("search_similar", {"image": str(place["root"] / "photo_0002.jpg")}))
    label = hit["hits"][0]["labels"][0]
    answer = server.call("find_photos", {"text": label, "limit": 5})
    found = ok(answer)
    assert hit["hits"][0]["photo_id"] in [h["photo_id"] for h in found["hits"]]
    sheet_of(answer)


def test_find_duplicates(server: McpSession, indexed: dict[str, Any], place) -> None:
    report = ok(server.call("find_duplicates"))
    groups = [{Path(p["path"]).name for p in g["photos"]} for g in report["groups"]]
    assert {"photo_0000.jpg", "copy_of_0000.jpg"} in groups
    assert report["checked"] == 19


def test_thumbnail_resource(server: McpSession, indexed: dict[str, Any], place) -> None:
    pid = photo_id(server, place["root"] / "photo_0001.jpg")
    contents = server.read(f"photo://{pid}/thumbnail").contents[0]
    assert contents.mime_type == "image/jpeg"
    picture = Image.open(io.BytesIO(base64.b64decode(contents.blob)))
    assert max(picture.size) <= 384


# -- comics ---------------------------------------------------------------------------------


def test_generate_refine_and_storyboard(
    server: McpSession, indexed: dict[str, Any], api: OpenAIDouble, place: dict
) -> None:
    ids = [photo_id(server, place["root"] / f"photo_000{n}.jpg") for n in (1, 2)]
    before = len(api.requests)
    answer = server.call(
        "generate_comic", {"prompt": "Cola finds a ball at the beach", "photos": ids}
    )
    comic = ok(answer)
    assert comic["comic_id"] and comic["parent_id"] is None
    assert comic["path"].startswith(str(place["data"]))
    assert "Cola finds a ball" in comic["prompt"]
    sent = api.requests[before]
    assert sent.prompt == comic["prompt"]
    assert [i.format for i in sent.images] == ["JPEG", "JPEG"]
    kinds = [b.type for b in answer.content]
    assert kinds == ["text", "image", "resource_link"]
    preview = base64.b64decode(answer.content[1].data)
    assert len(preview) < 150_000 and max(Image.open(io.BytesIO(preview)).size) <= 512

    refined = ok(
        server.call("generate_comic", {"prompt": "now at night", "refine": comic["comic_id"]})
    )
    assert refined["parent_id"] == comic["comic_id"]
    sent = api.requests[before + 1]
    assert sent.images[0].format == "PNG", "the earlier comic goes first"
    assert len(sent.images) == 3

    board = ok(
        server.call(
            "generate_comic",
            {"prompt": "a quiet day", "photos": [str(place["root"] / "photo_0004.jpg")],
             "backend": "storyboard", "panels": 2},
        )
    )  # fmt: skip
    assert board["backend"] == "storyboard" and board["panels"] == 2
    assert len(api.requests) == before + 2, "the storyboard calls no API"

    dry = ok(server.call("generate_comic", {"prompt": "x", "photos": ids, "dry_run": True}))
    assert dry["dry_run"] is True and dry["comic_id"] is None and len(dry["input_images"]) == 2
    assert len(api.requests) == before + 2

    listed = ok(server.call("list_comics"))
    assert [c["comic_id"] for c in listed["comics"][:3]] == [
        board["comic_id"], refined["comic_id"], comic["comic_id"],
    ]  # fmt: skip
    image = server.read(f"comic://{refined['comic_id']}").contents[0]
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.blob)[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_api_refusing_the_key_is_a_clear_error(
    server: McpSession, indexed: dict[str, Any], api: OpenAIDouble, place: dict
) -> None:
    api.script("unauthorized")  # the double echoes the key back, as careless servers do
    answer = server.call(
        "generate_comic", {"prompt": "x", "photos": [str(place["root"] / "photo_0001.jpg")]}
    )
    assert answer.is_error
    assert "401" in text_of(answer) and API_KEY not in text_of(answer)


def test_a_slow_drawing_continues_in_the_background_and_is_collected(
    server: McpSession, indexed: dict[str, Any], api: OpenAIDouble, place: dict
) -> None:
    photo = str(place["root"] / "photo_0003.jpg")
    api.script("hang")  # the image API answers only after api.hang_seconds (5 s)
    answer = server.call(
        "generate_comic", {"prompt": "Cola naps in the sun", "photos": [photo], "wait_seconds": 1}
    )
    pending = ok(answer)
    assert pending["state"] == "running" and pending["comic_id"] is None
    assert f"comic_status(job_id='{pending['job_id']}')" in text_of(answer)
    assert [b.type for b in answer.content] == ["text"]

    answer = server.call("comic_status", {"job_id": pending["job_id"], "wait_seconds": 30})
    comic = ok(answer)
    assert comic["state"] == "done" and comic["comic_id"]
    assert "Cola naps in the sun" in comic["prompt"]
    assert Path(comic["path"]).is_file()
    assert [b.type for b in answer.content] == ["text", "image", "resource_link"]
    again = ok(server.call("comic_status", {"job_id": pending["job_id"], "wait_seconds": 0}))
    assert again["comic_id"] == comic["comic_id"], "collecting twice makes no second comic"
    listed = ok(server.call("list_comics"))
    assert listed["comics"][0]["comic_id"] == comic["comic_id"]

    api.script("moderation")
    answer = server.call(
        "generate_comic", {"prompt": "Cola naps", "photos": [photo], "wait_seconds": 0}
    )
    if not answer.is_error:  # still under way when the call answered: the error comes later
        job_id = ok(answer)["job_id"]
        answer = server.call("comic_status", {"job_id": job_id, "wait_seconds": 30})
    assert answer.is_error and "content policy" in text_of(answer)


# -- hostile and wrong input ----------------------------------------------------------------

OVERSIZED = base64.b64encode(b"\xff" * (UPLOAD_LIMIT + 10_000)).decode()
NOT_AN_IMAGE = base64.b64encode(b"just some text, not a picture at all" * 20).decode()

HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("dotdot", "search_similar", {"image": "../outside/secret_0000.jpg"}, "outside"),
    ("absolute", "search_similar", {"image": "{outside}/secret_0000.jpg"}, "outside"),
    ("symlink-file", "search_similar", {"image": "{root}/escape.jpg"}, "outside"),
    ("symlink-dir", "index_folder", {"path": "{root}/escape_dir"}, "outside"),
    ("nul", "search_similar", {"image": "photo_0001.jpg\x00.png"}, "NUL"),
    ("index-outside", "index_folder", {"path": "/"}, "outside"),
    ("index-dotdot", "index_folder", {"path": "{root}/../outside"}, "outside"),
    ("index-nul", "index_folder", {"path": "tr\x00ip"}, "NUL"),
    ("missing-file", "search_similar", {"image": "nope.jpg"}, "no such file"),
    ("oversized-base64", "search_similar", {"image_base64": OVERSIZED}, "too large"),
    ("not-an-image", "search_similar", {"image_base64": NOT_AN_IMAGE}, "picture"),
    ("bad-base64", "search_similar", {"image_base64": "!!!not base64!!!"}, "base64"),
    (
        "negative-limit",
        "search_similar",
        {"photo_id": 1, "limit": -1},
        "limit: input should be greater than or equal to 1",
    ),
    (
        "zero-limit",
        "find_photos",
        {"text": "dog", "limit": 0},
        "limit: input should be greater than or equal to 1",
    ),
    (
        "huge-limit",
        "search_similar",
        {"photo_id": 1, "limit": 10**9},
        "limit: input should be less than or equal to 100",
    ),
    ("text-limit", "search_similar", {"photo_id": 1, "limit": "six"}, "limit"),
    ("unknown-photo", "search_similar", {"photo_id": 12345}, "unknown photo id"),
    ("negative-photo", "search_similar", {"photo_id": -5}, "positive"),
    ("two-sources", "search_similar", {"photo_id": 1, "image": "x.jpg"}, "exactly one"),
    ("no-source", "search_similar", {}, "nothing to search"),
    ("unlike-alone", "search_similar", {"unlike": [1]}, "nothing to search"),
    ("bad-date", "search_similar", {"photo_id": 1, "taken_after": "last summer"}, "taken_after"),
    ("folder-outside", "find_photos", {"text": "dog", "folder": "/etc"}, "outside"),
    ("no-words", "find_photos", {"text": "   "}, "words"),
    ("threshold", "find_duplicates", {"threshold": 5}, "threshold"),
    ("unknown-job", "index_status", {"job_id": "j00000000"}, "no job"),
    ("long-wait", "index_status", {"job_id": "j0", "wait_seconds": 1000}, "wait_seconds"),
    ("unknown-comic-job", "comic_status", {"job_id": "g00000000"}, "no job"),
    ("comic-wait", "generate_comic", {"prompt": "x", "wait_seconds": -1}, "wait_seconds"),
    ("comic-unknown-photo", "generate_comic", {"prompt": "x", "photos": [12345]}, "unknown"),
    ("comic-outside", "generate_comic", {"prompt": "x", "photos": ["{outside}"]}, "outside"),
    ("comic-unknown", "generate_comic", {"prompt": "x", "refine": "c0000000000"}, "no comic"),
    ("comic-bad-id", "generate_comic", {"prompt": "x", "refine": "../../etc/passwd"}, "no comic"),
    ("comic-no-photos", "generate_comic", {"prompt": "x"}, "reference photo"),
    ("comic-panels", "generate_comic", {"prompt": "x", "refine": "c1", "panels": 5}, "panels"),
    ("comic-size", "generate_comic", {"prompt": "x", "size": "1000x333"}, "multiples of 16"),
    ("comic-strip-6", "generate_comic", {"prompt": "x", "panels": 6, "layout": "strip"}, "2 to 4"),
    (
        "comic-long",
        "generate_comic",
        {"prompt": "x" * 100_000, "photos": ["{root}/photo_0001.jpg"]},
        "100,000 characters given, at most 4,000",
    ),
    ("comic-backend", "generate_comic", {"prompt": "x", "backend": "dalle"}, "backend"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "expect"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_and_wrong_input_is_a_tool_error(
    server: McpSession,
    indexed: dict[str, Any],
    place: dict[str, Path],
    tool: str,
    arguments: dict[str, Any],
    expect: str,
) -> None:
    filled = {
        k: v.format(root=place["root"], outside=place["outside"])
        if isinstance(v, str) and len(v) < 1000
        else v
        for k, v in arguments.items()
    }
    filled = {
        k: [
            x.format(root=place["root"], outside=place["outside"]) if isinstance(x, str) else x
            for x in v
        ]
        if isinstance(v, list)
        else v
        for k, v in filled.items()
    }
    answer = server.call(tool, filled)
    text = text_of(answer)
    assert answer.is_error, f"{tool} accepted {arguments}: {text[:300]}"
    assert expect.lower() in text.lower(), text
    assert "Traceback" not in text and len(text) < 2_000
    assert ok(server.call("library_status"))["photos"] == 19, "the server keeps answering"


def test_unknown_resources_are_errors(server: McpSession, indexed: dict[str, Any]) -> None:
    from mcp.shared.exceptions import MCPError

    for uri in ("photo://12345/thumbnail", "photo://abc/thumbnail", "comic://c0000000000"):
        with pytest.raises(MCPError):
            server.read(uri)
    assert ok(server.call("library_status"))["photos"] == 19


def test_the_key_appears_in_no_answer_and_no_log(server: McpSession) -> None:
    assert server.outputs, "answers were recorded"
    assert not [o for o in server.outputs if API_KEY in o]
    assert not [o for o in server.outputs if "Traceback" in o]


def test_stderr_of_the_server_holds_no_key(server: McpSession, place: dict) -> None:
    # stderr is read when the module's server stops; look at what has been written so far.
    log = (place["base"] / "server-stderr.log").read_text()
    assert API_KEY not in log


# -- crashes inside a tool, in process ------------------------------------------------------


def test_an_unexpected_exception_is_a_tool_error_and_logged(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anyio
    from mcp import Client
    from photocomic.server.mcp_app import build_server
    from photocomic.server.mcp_door import McpDoor
    from photocomic.tools.config import Settings

    settings = Settings(roots=[tmp_path], data_dir=tmp_path / "data", engine="off")
    server = build_server(settings)
    real_call = McpDoor.call

    async def broken(self: McpDoor, request: Any) -> Any:
        if request.op == "library_status":
            raise RuntimeError("boom: internal detail")
        return await real_call(self, request)

    monkeypatch.setattr(McpDoor, "call", broken)

    async def main() -> tuple[Any, Any]:
        async with Client(server) as client:
            failed = await client.call_tool("library_status", {})
            after = await client.call_tool("list_comics", {})
            return failed, after

    failed, after = anyio.run(main)
    assert failed.is_error
    assert "internal error (RuntimeError)" in text_of(failed)
    assert "boom" not in text_of(failed) and "Traceback" not in text_of(failed)
    assert not after.is_error
    crashes = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1].__cause__)]
    assert crashes, "the traceback is logged (to stderr in the server)"
    assert "boom" not in capsys.readouterr().out, "never on stdout, the stdio channel"


# -- streamable HTTP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server(place: dict[str, Path]) -> Iterator[str]:
    port = free_port()
    token = "tok-" + "x" * 24
    data = place["base"] / "http-data"
    shutil.rmtree(data, ignore_errors=True)
    env = server_env(data, PHOTOCOMIC_HTTP_TOKEN=token)
    log = open(place["base"] / "http-stderr.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        serve_command("--transport", "http", "--port", str(port), "--root", str(place["root"])),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert process.poll() is None, (place["base"] / "http-stderr.log").read_text()
                time.sleep(0.1)
        yield url + "|" + token
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_http_refuses_requests_without_the_token(http_server: str) -> None:
    url, token = http_server.split("|")
    assert httpx.post(url, json=HTTP_INITIALIZE, headers=HTTP_HEADERS).status_code == 401
    wrong = {**HTTP_HEADERS, "Authorization": "Bearer nope"}
    answer = httpx.post(url, json=HTTP_INITIALIZE, headers=wrong)
    assert answer.status_code == 401 and "Bearer" in answer.headers["www-authenticate"]
    right = {**HTTP_HEADERS, "Authorization": f"Bearer {token}"}
    assert httpx.post(url, json=HTTP_INITIALIZE, headers=right).status_code == 200


def test_http_client_with_the_token_works(http_server: str, place: dict[str, Path]) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    url, token = http_server.split("|")
    client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=120)
    )
    with McpSession(streamable_http_client(url, http_client=client)) as session:
        names = {t.name for t in session.list_tools().tools}
        assert "search_similar" in names
        status = ok(session.call("library_status"))
        assert status["roots"] == [str(place["root"])]
        comics = ok(session.call("list_comics"))
        assert comics["total"] == 0
