"""Each operation is declared once, by its request, and every door is built from it.

The MCP tools' input schemas and the command line's flags must say exactly what the request
accepts (names, types, bounds, defaults, words); the engine dispatches every request class from
one table; and what draws and bills is never sent to the engine twice.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import write_photos
from photocomic.server import cli
from photocomic.server.mcp_app import build_server
from photocomic.server.mcp_listing import TOOLS
from photocomic.tools.comics.contract import ComicsRequest
from photocomic.tools.config import Settings
from photocomic.tools.contract import Ask
from photocomic.tools.find.contract import FindRequest, SimilarRequest, SubjectRequest
from photocomic.tools.owner import client as door_client
from photocomic.tools.owner.client import Door, EngineUnreachable
from photocomic.tools.owner.contract import (
    DrawSheet,
    GenerateComic,
    ListJobs,
    StatusRequest,
)
from photocomic.tools.owner.dispatch import HANDLERS, OPERATIONS
from pydantic import BaseModel


def _requests(base: type[Any] = Ask) -> set[type[Ask[Any]]]:
    found: set[type[Ask[Any]]] = set()
    for sub in base.__subclasses__():
        if "op" in sub.__dict__:
            found.add(sub)
        found |= _requests(sub)
    return found


def test_every_request_class_has_exactly_one_handler() -> None:
    declared = _requests()
    assert declared == set(HANDLERS), declared ^ set(HANDLERS)
    assert len(OPERATIONS) == len(HANDLERS), "two requests with one op"
    assert all(callable(handler) for handler in HANDLERS.values())


def _listed_tools(tmp_path: Path) -> dict[str, Any]:
    server = build_server(Settings(roots=[str(tmp_path)], data_dir=tmp_path / "data"))
    return {t.name: t for t in anyio.run(server.list_tools)}


def test_every_mcp_tool_is_its_request(tmp_path: Path) -> None:
    listed = _listed_tools(tmp_path)
    assert set(listed) == {t.name for t in TOOLS}
    for declared in TOOLS:
        schema = listed[declared.name].input_schema
        request = declared.request.model_json_schema()
        assert declared.name == declared.request.op
        assert schema["additionalProperties"] is False
        arguments = set(schema["properties"])
        assert arguments - set(declared.extras) <= set(request["properties"]), declared.name
        for name in arguments - set(declared.extras):
            mine, theirs = dict(schema["properties"][name]), dict(request["properties"][name])
            field = declared.request.model_fields[name]
            if not field.is_required():  # a factory's default is a value in the tool's schema
                assert mine.pop("default") == field.get_default(call_default_factory=True)
                theirs.pop("default", None)
            for key in ("title", "$ref", "anyOf", "items", "allOf"):  # $defs differ in layout
                mine.pop(key, None), theirs.pop(key, None)
            assert mine == theirs, f"{declared.name}.{name}: {mine} != {theirs}"
        required = set(request.get("required", [])) & arguments
        assert required == set(schema.get("required", [])) - set(declared.extras), declared.name


def test_bounds_and_choices_reach_the_schemas(tmp_path: Path) -> None:
    listed = _listed_tools(tmp_path)
    find = listed["find_photos"].input_schema["properties"]
    assert (find["limit"]["minimum"], find["limit"]["maximum"]) == (1, 100)
    assert find["text"]["maxLength"] == 500 and find["offset"]["minimum"] == 0
    comic = listed["generate_comic"].input_schema["properties"]
    assert comic["variants"]["maximum"] == 4 and comic["model"]["default"] is None
    styles = comic["style"]["anyOf"][0]["enum"]
    assert "ghibli" in styles and "noir" in styles
    sheet = listed["draw_character_sheet"].input_schema["properties"]
    assert "auto" in sheet["model"]["description"] and sheet["model"]["default"] is None


@pytest.mark.parametrize(
    ("argv", "request_class", "fields"),
    [
        (["find", "dog"], FindRequest, ["limit", "offset", "diversify"]),
        (["search", "x.jpg"], SimilarRequest, ["limit", "diversify"]),
        (["comic", "--prompt", "p"], GenerateComic, ["variants", "size", "quality", "model"]),
        (["subject", "sheet", "Cola"], DrawSheet, ["style", "variants", "model", "dry_run"]),
        (["jobs"], ListJobs, ["limit", "offset"]),
    ],
)
def test_command_line_flags_default_to_the_request(
    argv: list[str], request_class: type[BaseModel], fields: list[str]
) -> None:
    args = cli.build_parser().parse_args(argv)
    for name in fields:
        assert getattr(args, name) == request_class.model_fields[name].get_default(), name


def test_a_bound_is_told_in_the_flags_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["find", "dog", "--limit", "500"]) == 1
    said = capsys.readouterr().err
    assert "--limit" in said and "100" in said


def test_unknown_fields_are_refused_by_every_request() -> None:
    with pytest.raises(ValueError, match="limitt"):
        SubjectRequest(name="Cola", limitt=3)  # type: ignore[call-arg]


# -- what draws is sent once --------------------------------------------------------------------


class _DropAfterSend:
    """The first answer of ``op`` is lost: the engine read the request, the door hears nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, op: str) -> None:
        self.dropped = 0
        real = door_client._UnixConnection.getresponse
        connection_op: dict[int, str] = {}
        real_request = door_client._UnixConnection.request

        def request(conn: Any, method: str, url: str, *args: Any, **kwargs: Any) -> None:
            connection_op[id(conn)] = url
            real_request(conn, method, url, *args, **kwargs)

        def getresponse(conn: Any) -> Any:
            if connection_op.get(id(conn)) == f"/v1/{op}" and not self.dropped:
                self.dropped += 1
                time.sleep(0.5)  # the engine has the request and starts on it
                conn.close()
                raise http.client.RemoteDisconnected("the connection dropped")
            return real(conn)

        monkeypatch.setattr(door_client._UnixConnection, "request", request)
        monkeypatch.setattr(door_client._UnixConnection, "getresponse", getresponse)


def _settled(door: Door) -> None:
    for _ in range(200):
        jobs = door.call(ListJobs(limit=100)).jobs
        if all(j.state not in ("queued", "running") for j in jobs):
            return
        time.sleep(0.1)
    raise AssertionError("jobs never ended")


def test_a_drawing_whose_answer_is_lost_is_not_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = write_photos(tmp_path / "photos", 3)
    door = Door(Settings(), kind="cli")
    try:
        door.call(StatusRequest())  # an engine is up
        lost = _DropAfterSend(monkeypatch, "library_status")
        assert door.call(StatusRequest()).comics == 0 and lost.dropped == 1, "others are resent"
        _DropAfterSend(monkeypatch, "generate_comic")
        comic = GenerateComic(prompt="a day out", photos=[str(photos[0])], backend="storyboard")
        with pytest.raises(EngineUnreachable):
            door.call(comic)
        _settled(door)
        assert door.call(ComicsRequest(every=True)).total == 1, "drawn once, not twice"

        from photocomic.tools.find.contract import SubjectRequest as Teach

        door.call(Teach(name="Cola", photos=[str(p) for p in photos]))
        _DropAfterSend(monkeypatch, "draw_character_sheet")
        with pytest.raises(EngineUnreachable):
            door.call(DrawSheet(subject="Cola", backend="storyboard"))
        _settled(door)
        sheets = [c for c in door.call(ComicsRequest(every=True)).comics if c.sheet_for]
        assert len(sheets) == 1, "one sheet drawn"
    finally:
        door.close()
