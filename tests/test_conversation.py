"""A whole conversation, as an assistant has it: one stdio MCP session, turn after turn.

Index, search, teach a subject, draw her sheet and a comic, refine it three times, redo a
panel, ask for variants, branch from an older version, and make the mistakes assistants make;
then a lettered comic: a script whose lines never reach the image model, a translation
lettered without drawing, and a book of the story; then one that moves: a GIF of Biscuit, its
refinement, and what a GIF cannot be.
After every call: the answer matches the tool's output schema, stays small, never says "1
photos", and every next step it suggests names a tool and arguments that exist. What reached
the image API (the OpenAI double) carries the story and every earlier change.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pypdf
import pytest
from conftest import write_photos
from mcp_session import McpSession, serve_command, server_env, text_of
from mcp_types import CallToolResult
from openai_double import OpenAIDouble
from test_subjects import placed, real_things

pytestmark = pytest.mark.e2e

ANSWER_BUDGET = 100_000  # bytes of text and structured content: ~25,000 tokens
STORY = "Biscuit finds a red ball in the garden and chases it until sunset."
CHANGES = ["give her a red scarf", "make it night", "add falling snow"]
SUGGESTED_CALL = re.compile(r"\b([a-z_]+)\(([^()]*)\)")
NO_PLURAL_OF_ONE = re.compile(r"\b1 (photos|panels|subjects|comics|images|examples|groups)\b")


class Conversation:
    """The session, the tools it listed, and checks every answer must pass."""

    def __init__(self, session: McpSession) -> None:
        self.session = session
        self.tools = {t.name: t for t in session.list_tools().tools}
        self.texts: list[str] = []

    def call(self, tool: str, _progress: Any = None, **arguments: Any) -> CallToolResult:
        answer = self.session.call(tool, arguments, progress=_progress)
        text = text_of(answer)
        self.texts.append(text)
        size = len(text.encode()) + len(json.dumps(answer.structured_content or {}))
        assert size < ANSWER_BUDGET, f"{tool} answered {size} bytes"
        assert not NO_PLURAL_OF_ONE.search(text), text
        assert "[[" not in text, f"a remedy left unrendered: {text}"
        for name, args in SUGGESTED_CALL.findall(text):
            if name in self.tools:
                known = set(self.tools[name].input_schema.get("properties", {}))
                given = {a.split("=")[0].strip() for a in args.split(",") if "=" in a}
                assert given <= known, f"{tool} suggests {name}({args}); it takes {known}"
        if not answer.is_error:
            schema = self.tools[tool].output_schema
            if schema and answer.structured_content is not None:
                jsonschema.validate(answer.structured_content, schema)
        return answer

    def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        answer = self.call(tool, **arguments)
        assert not answer.is_error, text_of(answer)
        assert answer.structured_content is not None
        return answer.structured_content

    def refused(self, tool: str, **arguments: Any) -> str:
        answer = self.call(tool, **arguments)
        text = text_of(answer)
        assert answer.is_error, f"{tool} accepted {list(arguments)}: {text[:300]}"
        assert "photocomic " not in text and "--" not in text, f"CLI words to an assistant: {text}"
        assert "Traceback" not in text and len(text) < 2_000
        return text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("conversation")
    root = base / "photos"
    flower, _ = real_things()
    (root / "garden").mkdir(parents=True)
    biscuit = [placed(flower, 700 + n, root / "garden", f"biscuit_{n:02d}.jpg") for n in range(18)]
    walks = write_photos(root / "walks", 24, start=800)
    (root / "copies").mkdir()
    for walk in walks[:2]:  # two shots kept twice: two groups of near-duplicates
        (root / "copies" / walk.name).write_bytes(walk.read_bytes())
    return {"base": base, "root": root, "biscuit": biscuit, "copied": walks[:2]}


@pytest.fixture(scope="module")
def api() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as double:
        yield double


@pytest.fixture(scope="module")
def talk(world: dict[str, Any], api: OpenAIDouble) -> Iterator[Conversation]:
    env = server_env(
        world["base"] / "data", OPENAI_API_KEY="sk-conversation-test",
        OPENAI_BASE_URL=api.base_url, PHOTOCOMIC_IMAGE_RETRIES="0",
    )  # fmt: skip
    with (
        open(world["base"] / "server.log", "w") as log,
        McpSession.stdio(serve_command("--root", str(world["root"])), env, log) as session,
    ):
        yield Conversation(session)


def kept_forward(base: Path) -> str:
    """What the server's engine should run: OpenVINO where the verdict it had made says so."""
    verdicts = [json.loads(v.read_text()) for v in (base / "data-compiled").glob("*.json")]
    return "openvino" if any(v.get("faster") == "openvino" for v in verdicts) else "eager"


def sent_prompt(api: OpenAIDouble) -> str:
    return api.requests[-1].prompt or ""


def test_a_whole_conversation(talk: Conversation, world: dict[str, Any], api: OpenAIDouble) -> None:
    # every input schema refuses what it does not know and states its bounds
    for tool in talk.tools.values():
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    comic = talk.tools["generate_comic"].input_schema["properties"]
    assert comic["variants"]["maximum"] == 4 and comic["panel"]["anyOf"][0]["maximum"] == 6
    assert "model" in comic and comic["prompt"]["maxLength"] >= 1000
    assert "model" in talk.tools["draw_character_sheet"].input_schema["properties"]

    talk.ok("library_status")
    indexed = talk.ok("index_folder", path=str(world["root"]), wait_seconds=50)
    while indexed["state"] in ("queued", "running"):
        indexed = talk.ok("index_status", job_id=indexed["job_id"], wait_seconds=20)
    assert indexed["state"] == "done", indexed

    first = talk.ok("search_similar", image=str(world["biscuit"][0]), limit=5)["hits"]
    ids = [h["photo_id"] for h in first]
    # status says how the loaded model runs: an engine with no verdict had the forward passes
    # compared apart and runs OpenVINO where it won; otherwise a short run keeps the model
    assert talk.ok("library_status")["forward_pass"] == kept_forward(world["base"])
    assert talk.ok("search_similar", photo_id=ids[0], limit=3)["hits"]

    # the mistakes assistants make: refused at once, with the words to do it right
    said = talk.refused("search_similar", photo_id=ids[0], limitt=3)
    assert "limitt" in said and "limit" in said.replace("limitt", "")
    started = time.perf_counter()
    talk.refused("find_photos", text="dog " * 250_000)
    assert time.perf_counter() - started < 5

    taught = talk.ok(
        "remember_subject", name="Biscuit", photos=[_id_of(talk, p) for p in world["biscuit"][:3]]
    )
    count = taught["about"]["estimate"]
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = talk.ok("find_photos", text="Biscuit", limit=5, offset=offset)
        assert page["total"] == count, "one count per subject"
        seen += [h["photo_id"] for h in page["hits"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == count
    listed = talk.ok("list_subjects")["subjects"]
    assert [s["estimate"] for s in listed if s["name"] == "Biscuit"] == [count]

    sheet = talk.ok("draw_character_sheet", subject="Biscuit", wait_seconds=45)
    assert sheet["state"] == "done", sheet
    assert "Biscuit" in talk.texts[-1] and "ghibli" in talk.texts[-1]

    drawn = talk.ok("generate_comic", prompt=STORY, subject="Biscuit", wait_seconds=45)
    versions = [drawn["comic_id"]]
    for change in CHANGES:
        refined = talk.ok("generate_comic", prompt=change, refine=versions[-1], wait_seconds=45)
        versions.append(refined["comic_id"])
    prompt = sent_prompt(api)
    assert STORY in prompt and all(c in prompt for c in CHANGES), prompt
    assert prompt.index(CHANGES[0]) < prompt.index(CHANGES[1]) < prompt.rindex(CHANGES[2])

    redo = talk.ok(
        "generate_comic", prompt="make her jump higher", refine=versions[-1], panel=3,
        wait_seconds=45,
    )  # fmt: skip
    assert redo["panel"] == 3 and STORY in sent_prompt(api) and CHANGES[2] in sent_prompt(api)
    variants = talk.ok(
        "generate_comic", prompt="a happier ending", refine=redo["comic_id"], variants=2,
        wait_seconds=45,
    )  # fmt: skip
    assert len(variants["variants"]) == 2
    branch = talk.ok("generate_comic", prompt="make it a sunny morning", refine=versions[1])
    assert STORY in sent_prompt(api) and CHANGES[0] in sent_prompt(api)
    assert CHANGES[1] not in sent_prompt(api), "a branch carries only its own changes"
    assert branch["parent_id"] == versions[1]

    # the model is an argument, judged before anything is sent
    before = len(api.requests)
    said = talk.refused("generate_comic", prompt="x", refine=versions[-1], model="gpt-image-1")
    assert "gpt-image-2" in said and len(api.requests) == before
    pinned = talk.ok("generate_comic", prompt="brighter", refine=versions[-1], model="gpt-image-2")
    assert pinned["model"] == "gpt-image-2" and api.requests[-1].model == "gpt-image-2"

    # sixteen photos of a subject with a sheet: photocomic makes room for the sheet itself
    sixteen = [_id_of(talk, p) for p in world["biscuit"][:16]]
    full = talk.ok("generate_comic", prompt=STORY, photos=sixteen, wait_seconds=45)
    assert len(api.requests[-1].images) == 16 and full["state"] == "done"
    assert any("stayed behind" in note for note in full["notes"]), full["notes"]

    heard: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        heard.append(message)

    # a check that outlasts the call goes on: the same call again follows it to its groups
    early = talk.call("find_duplicates", wait_seconds=0, _progress=on_progress)
    assert early.structured_content["state"] == "running" and heard, "it reports progress"
    assert "call find_duplicates again with the same arguments" in text_of(early)
    # the status agrees: the check, while it runs, with the call that collects it
    checks = talk.ok("library_status")["duplicate_checks"]
    assert [c["threshold"] for c in checks] in ([], [0.88]), checks  # [] once it has ended
    if checks:
        assert "find_duplicates(threshold=0.88) collects its groups" in talk.texts[-1]
    groups = talk.call("find_duplicates")
    assert not groups.is_error and groups.structured_content["state"] == "done"
    every = groups.structured_content
    pairs = [{Path(p["path"]).name for p in g["photos"]} for g in every["groups"]]
    assert all({p.name} in pairs for p in world["copied"]), "each copy with its original"
    # the next page comes from the same check (kept until the library changes), same totals
    first = talk.ok("find_duplicates", limit=1)
    assert (first["total_groups"], first["next_offset"]) == (every["total_groups"], 1)
    assert "find_duplicates(offset=1)" in talk.texts[-1]
    second = talk.ok("find_duplicates", limit=1, offset=1)
    assert second["groups"] == every["groups"][1:2] and second["next_offset"] == 2

    comics = talk.ok("list_comics", limit=50)
    kinds = {c["kind"] for c in comics["comics"]}
    assert {"sheet", "comic", "refinement", "panel redo", "variant"} <= kinds
    assert all(c["story"] for c in comics["comics"] if c["kind"] != "sheet")
    assert "Biscuit's sheet" in talk.texts[-1]

    status = talk.call("library_status")
    assert len(text_of(status)) + len(json.dumps(status.structured_content)) < 6_000
    assert status.structured_content["finished_jobs"] >= 10
    assert talk.ok("list_jobs", limit=5)["next_offset"] == 5


SCRIPT = [
    {"scene": "Biscuit finds a red ball", "lines": [
        {"kind": "caption", "text": "In the garden, one morning."},
        {"who": "Biscuit", "text": "A ball! All mine!"}]},
    {"scene": "she chases it", "lines": [{"kind": "sound", "text": "BOING"}]},
    {"scene": "she loses it in a bush", "lines": [
        {"who": "Biscuit", "text": "Where did it go?", "kind": "thought"}]},
    {"scene": "she sleeps with the ball at sunset", "lines": [
        {"kind": "caption", "text": "Found at last."}]},
]  # fmt: skip
GERMAN = [
    {"lines": [{"kind": "caption", "text": "Im Garten, eines Morgens."},
               {"who": "Biscuit", "text": "Ein Ball! Ganz meiner!"}]},
    {"lines": [{"kind": "sound", "text": "BOING"}]},
    {"lines": [{"who": "Biscuit", "text": "Wo ist er hin?", "kind": "thought"}]},
    {"lines": [{"kind": "caption", "text": "Endlich gefunden."}]},
]  # fmt: skip


def test_a_lettered_story_translated_and_bound(
    talk: Conversation, world: dict[str, Any], api: OpenAIDouble
) -> None:
    lines = [line["text"] for panel in SCRIPT for line in panel["lines"]]
    drawn = talk.ok("generate_comic", prompt=STORY, subject="Biscuit", script=SCRIPT)
    assert drawn["state"] == "done" and len(drawn["letters"]) == len(lines)
    assert not [t for t in lines if t in sent_prompt(api)], "a line reached the image model"
    assert "letter_comic" in talk.texts[-1]

    before = len(api.requests)
    german = talk.ok("letter_comic", comic_id=drawn["comic_id"], script=GERMAN)
    assert len(api.requests) == before, "lettering again calls no image API"
    assert german["parent_id"] == drawn["comic_id"] and german["edit"] == "letters"
    assert [lt["text"] for lt in german["letters"]][:2] == [
        "Im Garten, eines Morgens.", "Ein Ball! Ganz meiner!"]  # fmt: skip
    said = talk.refused("letter_comic", comic_id=drawn["comic_id"], script=GERMAN[:3])
    assert "one entry per panel" in said

    night = talk.ok("generate_comic", prompt="make it night", refine=german["comic_id"])
    assert [lt["text"] for lt in night["letters"]] == [lt["text"] for lt in german["letters"]]
    assert not [t for t in ("Ganz meiner", "Wo ist er hin") if t in sent_prompt(api)]

    ids = [drawn["comic_id"], german["comic_id"], night["comic_id"]]
    book = talk.ok("make_book", comic_ids=ids, title="Biscuit's ball", format="pdf")
    assert book["pages"] == 4 and book["uri"].startswith("book://")
    read = talk.session.read(book["uri"]).contents[0]
    pdf = pypdf.PdfReader(io.BytesIO(base64.b64decode(read.blob)))
    assert len(pdf.pages) == 4 and read.mime_type == "application/pdf"
    cbz = talk.ok("make_book", comic_ids=ids, title="Biscuits Ball", format="cbz", language="de")
    blob = talk.session.read(cbz["uri"]).contents[0].blob
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(blob)))
    info = ElementTree.fromstring(archive.read("ComicInfo.xml"))
    assert int(info.findtext("PageCount") or 0) == cbz["pages"] == 4
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 4
    talk.refused("make_book", comic_ids=["c0000000000"], title="x")


def test_a_comic_that_moves(talk: Conversation, api: OpenAIDouble) -> None:
    before = len(api.requests)
    said = talk.refused("generate_comic", prompt="Biscuit jumps", subject="Biscuit",
                        animate=True, frames=20)  # fmt: skip
    assert "frames" in said and len(api.requests) == before, "refused before anything is sent"

    moving = talk.call("generate_comic", prompt="Biscuit jumps for the ball", subject="Biscuit",
                       animate=True, frames=6)  # fmt: skip
    drawn = moving.structured_content
    assert not moving.is_error and drawn["format"] == "gif" and drawn["frames"] == 6
    sent = api.requests[-1]
    assert sent.fields["output_format"] == "gif" and sent.fields["frame_count"] == "6"
    assert sent.fields.get("stream") in (None, "false")
    stills = [b for b in moving.content if b.type == "image"]
    assert len(stills) == 1 and stills[0].mime_type == "image/jpeg"
    assert len(base64.b64decode(stills[0].data)) < 100_000, "the answer's still stays small"
    links = [b for b in moving.content if b.type == "resource_link"]
    assert links[0].uri == drawn["uri"] == f"comic://{drawn['comic_id']}/gif"
    read = talk.session.read(drawn["uri"]).contents[0]
    assert base64.b64decode(read.blob)[:6] in (b"GIF87a", b"GIF89a")
    assert "6 frames" in talk.texts[-1]

    again = talk.ok("generate_comic", prompt="slower", refine=drawn["comic_id"], frame_ms=400)
    assert again["format"] == "gif" and again["frame_ms"] == 400
    assert api.requests[-1].images[0].format == "PNG", "its frames go as a sprite sheet"
    said = talk.refused("generate_comic", prompt="x", refine=drawn["comic_id"], panel=1)
    assert "GIF" in said
    said = talk.refused("letter_comic", comic_id=drawn["comic_id"], script=[{"lines": []}])
    assert "animation" in said
    preview = talk.ok("generate_comic", prompt="Biscuit runs", subject="Biscuit", animate=True,
                      backend="storyboard")  # fmt: skip
    assert preview["format"] == "gif" and preview["frames"] == 9
    kinds = {c["format"] for c in talk.ok("list_comics", limit=50)["comics"]}
    assert kinds == {"png", "gif"}
    book = talk.ok("make_book", comic_ids=[drawn["comic_id"]], title="Jump", format="cbz")
    blob = base64.b64decode(talk.session.read(book["uri"]).contents[0].blob)
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert book["pages"] == 2 and names == ["000.png", "001.png", "ComicInfo.xml"]
    first_frame = zipfile.ZipFile(io.BytesIO(blob)).read("001.png")
    assert first_frame[:4] == b"\x89PNG", "a printed page shows an animation's first frame"


def _id_of(talk: Conversation, path: Path) -> int:
    hits = talk.ok("search_similar", image=str(path), limit=1)["hits"]
    assert hits[0]["path"] == str(path)
    return int(hits[0]["photo_id"])
