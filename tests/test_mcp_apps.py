"""The MCP Apps: the picker and the viewer as ``ui://`` pages, used in a real browser.

A real photocomic server runs over stdio for a client that advertises MCP Apps. Each page is
opened in headless Chromium inside a small host page built on ext-apps' ``AppBridge``; every tool
call the page makes goes to the real server over the real MCP client. In the picker three photos
are chosen and a comic asked for (drawn by the OpenAI-compatible test server); in the viewer it
is refined. Screenshots of both pages go to docs/. A client without the extension gets today's
answers and no app-only tools.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, stop_engine, write_photos
from mcp.client import advertise
from mcp_session import McpSession, ok, serve_command, server_env
from openai_double import OpenAIDouble
from PIL import Image

APPS = "io.modelcontextprotocol/ui"
APP_MIME = "text/html;profile=mcp-app"
HOST = REPO / "tests" / "apphost"
CHROMIUM = os.environ.get("PHOTOCOMIC_TEST_CHROMIUM", "/usr/bin/chromium")
# The screenshots in docs/ come from this test: PHOTOCOMIC_SCREENSHOTS=docs python -m pytest ...
SHOTS = os.environ.get("PHOTOCOMIC_SCREENSHOTS")


def _need(what: str) -> None:
    message = f"{what}; .ci/run installs it (Debian's chromium, playwright, tests/apphost)"
    if os.environ.get("PHOTOCOMIC_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("apps")
    root = base / "photos"
    write_photos(root, 10)
    data = base / "data"
    with OpenAIDouble() as api:
        env = server_env(
            data, OPENAI_API_KEY="sk-test-apps-0123456789", OPENAI_BASE_URL=api.base_url,
            PHOTOCOMIC_IMAGE_RETRIES="0",
        )  # fmt: skip
        settings = {"mimeTypes": [APP_MIME]}
        with (
            open(base / "server.log", "w") as errlog,
            McpSession.stdio(
                serve_command("--root", str(root)), env, errlog, [advertise(APPS, settings)]
            ) as apps,
            McpSession.stdio(serve_command("--root", str(root)), env, errlog) as plain,
        ):
            ok(apps.call("index_folder", {"path": str(root), "wait_seconds": 50}))
            yield {"apps": apps, "plain": plain, "api": api, "root": root}
    stop_engine(data)


def test_tools_point_at_self_contained_app_pages_for_clients_that_render_them(
    world: dict[str, Any],
) -> None:
    apps, plain = world["apps"], world["plain"]
    tools = {t.name: t for t in apps.list_tools().tools}
    for name, page in (("search_similar", "picker"), ("find_photos", "picker"),
                       ("generate_comic", "viewer"), ("list_comics", "viewer")):  # fmt: skip
        assert tools[name].meta["ui"]["resourceUri"] == f"ui://photocomic/{page}.html"
    assert tools["app_thumbnails"].meta["ui"]["visibility"] == ["app"]
    for page in ("picker", "viewer"):
        read = apps.read(f"ui://photocomic/{page}.html")
        content = read.contents[0]
        assert content.mime_type == APP_MIME
        html = content.text
        assert "window.ExtApps" in html or "ExtApps=" in html
        assert not re.search(r"""<(script|img|link|iframe)[^>]+(src|href)\s*=""", html, re.I)
        assert not re.search(r"""@import|url\(\s*['"]?https?:""", html)
    # A client without the extension: the same answers, and no app-only helpers.
    names = {t.name for t in plain.list_tools().tools}
    assert "search_similar" in names and "app_thumbnails" not in names
    answer = plain.call("search_similar", {"image": str(world["root"] / "photo_0001.jpg")})
    assert [b.type for b in answer.content] == ["text", "image"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _need(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed")
    if not (HOST / "host.js").exists():
        if shutil.which("npm") is None:
            _need("tests/apphost/host.js is not built and there is no npm")
        subprocess.run([str(HOST / "build.sh")], check=True, timeout=600)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(HOST))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/host.html"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def wire(result: Any) -> dict[str, Any]:
    """A CallToolResult as it travels in JSON-RPC (camelCase, no nulls)."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def open_page(
    browser: Any, host_url: str, apps: McpSession, name: str, theme: str, width: int
) -> tuple[Any, list[str], list[tuple[str, dict[str, Any]]]]:
    """A page in the host, in a browser window of ``width`` and colour ``theme``; the requests
    it makes beyond the host, and the tool calls it made."""
    page = browser.new_page(viewport={"width": width, "height": 1000}, color_scheme=theme)
    local = host_url.rsplit("/", 1)[0]
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((local, "data:", "about:")) else outside.append(r.url),
    )
    calls: list[tuple[str, dict[str, Any]]] = []

    def call_server(tool: str, arguments: str) -> str:
        args = json.loads(arguments)
        calls.append((tool, args))
        return json.dumps(wire(apps.call(tool, args)))

    page.expose_function("callServer", call_server)

    def read_server(uri: str) -> str:
        calls.append(("resources/read", {"uri": uri}))
        read = apps.read(uri)
        return json.dumps(read.model_dump(mode="json", by_alias=True, exclude_none=True))

    page.expose_function("readServer", read_server)
    page.goto(host_url)
    html = apps.read(f"ui://photocomic/{name}.html").contents[0].text
    page.evaluate("([html, theme]) => window.openPage(html, theme)", [html, theme])
    return page, outside, calls


def deliver(page: Any, arguments: dict[str, Any], result: Any) -> Any:
    page.evaluate("([a, r]) => window.deliver(a, r)", [arguments, wire(result)])
    return page.frame_locator("#frame")


def corner_colour(page: Any) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(page.screenshot())) as picture:
        return picture.convert("RGB").getpixel((5, 880))  # type: ignore[return-value]  (in the frame)


def test_choose_three_photos_in_the_picker_then_refine_the_comic_in_the_viewer(
    world: dict[str, Any], browser: Any, host_url: str, tmp_path: Path
) -> None:
    apps, api, root = world["apps"], world["api"], world["root"]
    shots = Path(SHOTS) if SHOTS else tmp_path
    arguments = {"image": str(root / "photo_0001.jpg"), "limit": 8}
    found = apps.call("search_similar", arguments)
    page, outside, calls = open_page(browser, host_url, apps, "picker", "light", 900)
    frame = deliver(page, arguments, found)
    cards = frame.locator(".card")
    frame.locator(".card img[src^='data:image/jpeg']").first.wait_for()  # thumbnails as data
    cards.nth(1).click()
    cards.nth(3).click(modifiers=["Shift"])  # a range: cards 2 to 4
    chosen = [h["photo_id"] for h in found.structured_content["hits"][1:4]]
    frame.locator("#comic").click()
    frame.locator("#prompt").fill("Three friends find a kite at the beach")
    frame.locator("#panels").select_option("3")
    frame.locator("#layout").select_option("strip")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "picker.png"))
    assert sum(corner_colour(page)) > 600, "the light theme is light"
    before = len(api.requests)
    frame.locator("#draw").click()
    frame.locator("#drawn img").wait_for(timeout=120_000)
    asked = [args for tool, args in calls if tool == "generate_comic"][-1]
    assert asked["photos"] == chosen and asked["layout"] == "strip"
    sent = api.requests[before]
    assert len(sent.images) == 3 and "three panels" in (sent.prompt or "")
    told = [e for e in page.evaluate("window.hostLog") if e["kind"] == "context"]
    assert any(all(str(i) in json.dumps(e) for i in chosen) for e in told), "assistant told"
    assert outside == [], f"the picker fetched {outside}"
    comic_id = ok(apps.call("list_comics"))["comics"][0]["comic_id"]

    viewer, outside, calls = open_page(browser, host_url, apps, "viewer", "dark", 380)
    vframe = deliver(viewer, {}, apps.call("list_comics"))
    vframe.locator("#list button").first.click()
    vframe.locator("#strip img").first.wait_for()
    vframe.locator("#refs img").first.wait_for()
    vframe.locator("#change").fill("Now at Hogwarts")
    viewer.screenshot(path=str(shots / "viewer.png"))
    assert sum(corner_colour(viewer)) < 200, "the dark theme is dark, at a phone's width"
    before = len(api.requests)
    vframe.locator("#refine").click()
    vframe.locator("#strip img").nth(1).wait_for(timeout=120_000)  # the new version joined
    refined = [args for tool, args in calls if tool == "generate_comic"][-1]
    assert refined["refine"] == comic_id and refined["prompt"] == "Now at Hogwarts"
    assert api.requests[before].images[0].format == "PNG"  # the earlier comic went first
    assert ok(apps.call("list_comics"))["comics"][0]["parent_id"] == comic_id
    assert outside == [], f"the viewer fetched {outside}"


def test_in_the_viewer_brush_a_part_pick_a_variant_and_see_the_branches(
    world: dict[str, Any], browser: Any, host_url: str
) -> None:
    """The person brushes over the part to change and says what it should be (markup strokes
    reach the image model: a 2.5+ model by default), asks for three tries, picks the second,
    and sees every version as a tree."""
    apps, api, root = world["apps"], world["api"], world["root"]
    first = ok(apps.call("generate_comic", {"prompt": "Cola chews the mouse.", "panels": 4,
                                            "photos": [str(root / "photo_0002.jpg")]}))  # fmt: skip
    viewer, outside, calls = open_page(browser, host_url, apps, "viewer", "light", 900)
    frame = deliver(viewer, {}, apps.call("list_comics"))
    frame.locator(f"#list button:has-text('{first['comic_id']}')").click()
    frame.locator("#strip img").first.wait_for()
    frame.locator("#marks").wait_for()
    box = frame.locator("#marks").bounding_box()
    assert box and box["width"] > 200
    viewer.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    viewer.mouse.down()
    for step in range(1, 11):
        viewer.mouse.move(box["x"] + box["width"] * (0.2 + 0.02 * step),
                          box["y"] + box["height"] * (0.2 + 0.01 * step))  # fmt: skip
    viewer.mouse.up()
    frame.locator("#change").fill("Make this ear floppy")
    before = len(api.requests)
    frame.locator("#refine").click()
    frame.locator("#strip img").nth(1).wait_for(timeout=120_000)
    asked = [args for tool, args in calls if tool == "generate_comic"][-1]
    assert asked["refine"] == first["comic_id"] and asked.get("markup_png")
    sent = api.requests[before]
    fields = [i.field for i in sent.images]
    assert sent.model.startswith("gpt-image-2.6") and "markup" in fields and "mask" not in fields
    markup = next(i for i in sent.images if i.field == "markup")
    left, top, right, bottom = markup.transparent_box or (0, 0, 0, 0)
    assert (right - left, bottom - top) == (markup.width, markup.height)  # strokes on clear
    marked = ok(apps.call("list_comics"))["comics"][0]
    assert marked["edit"] == "markup" and marked["parent_id"] == first["comic_id"]

    frame.locator("#count").select_option("3")
    frame.locator("#change").fill("Now in a cute outfit")
    frame.locator("#refine").click()
    frame.locator("#variants img").nth(2).wait_for(timeout=120_000)
    assert api.requests[-1].fields["n"] == "3"
    second = frame.locator("#variants img").nth(1)
    chosen = second.get_attribute("alt")
    second.click()
    assert chosen in frame.locator("#caption").inner_text()
    told = [e for e in viewer.evaluate("window.hostLog") if e["kind"] == "message"]
    assert any("variant #2" in json.dumps(e) and chosen in json.dumps(e) for e in told)
    frame.locator("#tree-box summary").click()  # "All versions (branches)"
    tree = frame.locator("#tree button")
    assert tree.count() == 5  # the first, the marked one, and its three variants
    labels = [tree.nth(i).inner_text() for i in range(5)]
    assert labels[0].startswith(first["comic_id"]) and sum("variant" in t for t in labels) == 3
    assert outside == [], f"the viewer fetched {outside}"


def test_the_viewer_says_whose_character_sheet_it_shows_and_which_a_comic_followed(
    world: dict[str, Any], browser: Any, host_url: str
) -> None:
    """A sheet drawn for a subject opens in the viewer named as that subject's sheet, and a
    later comic of the subject in that style says which sheet it followed."""
    apps, root = world["apps"], world["root"]
    examples = [str(root / f"photo_{n:04d}.jpg") for n in (3, 4, 5)]
    ok(apps.call("remember_subject", {"name": "Kite", "photos": examples}))
    sheet = apps.call("draw_character_sheet", {"subject": "Kite", "style": "ghibli"})
    sheet_id = ok(sheet)["comic_id"]
    viewer, outside, _ = open_page(browser, host_url, apps, "viewer", "light", 900)
    frame = deliver(viewer, {"subject": "Kite"}, sheet)
    frame.locator("#picture").wait_for()
    assert "Kite's character sheet" in frame.locator("#caption").inner_text()
    comic = apps.call("generate_comic", {"prompt": "Kite flies.", "subject": "Kite",
                                         "style": "ghibli"})  # fmt: skip
    frame = deliver(viewer, {"subject": "Kite"}, comic)
    frame.locator(f"#caption:has-text('{ok(comic)['comic_id']}')").wait_for()
    assert f"follows Kite's sheet ({sheet_id})" in frame.locator("#caption").inner_text()
    assert outside == [], f"the viewer fetched {outside}"


def test_in_the_viewer_edit_a_line_in_place_and_letter_again(
    world: dict[str, Any], browser: Any, host_url: str
) -> None:
    """A lettered comic lists its lines; the person corrects one in place and the same drawing
    is lettered again (letter_comic): a new version, and nothing sent to the image model."""
    apps, api, root = world["apps"], world["api"], world["root"]
    script = [{"scene": "Cola finds the mouse", "lines": [{"who": "Cola", "text": "Mien!"}]},
              {"scene": "Cola chews it", "lines": [{"kind": "sound", "text": "CHOMP"}]}]
    drawn = apps.call("generate_comic", {"prompt": "Cola and the mouse.", "script": script,
                                         "photos": [str(root / "photo_0006.jpg")]})  # fmt: skip
    first = ok(drawn)
    assert [lt["text"] for lt in first["letters"]] == ["Mien!", "CHOMP"]
    viewer, outside, calls = open_page(browser, host_url, apps, "viewer", "light", 900)
    frame = deliver(viewer, {}, drawn)
    line = frame.locator("#letters input").first
    line.wait_for()
    assert line.input_value() == "Mien!"
    line.fill("Mine!")
    before = len(api.requests)
    frame.locator("#reletter").click()
    frame.locator("#strip img").nth(1).wait_for(timeout=60_000)
    asked = [args for tool, args in calls if tool == "letter_comic"][-1]
    assert asked["comic_id"] == first["comic_id"]
    assert asked["script"][0]["lines"][0]["text"] == "Mine!"
    assert len(api.requests) == before, "lettering again drew nothing"
    newest = ok(apps.call("list_comics"))["comics"][0]
    assert newest["kind"] == "relettering" and newest["parent_id"] == first["comic_id"]
    assert frame.locator("#letters input").first.input_value() == "Mine!"
    assert outside == [], f"the viewer fetched {outside}"


def test_the_viewer_plays_an_animated_comic_and_its_versions(
    world: dict[str, Any], browser: Any, host_url: str
) -> None:
    """An animated comic's answer carries a still strip; the viewer reads the GIF from the
    server's resource and plays it, and a refinement of it (a new GIF) plays too."""
    apps, api, root = world["apps"], world["api"], world["root"]
    asked = {"prompt": "Cola jumps for the frisbee.", "animate": True, "frames": 6,
             "photos": [str(root / "photo_0007.jpg")]}  # fmt: skip
    drawn = apps.call("generate_comic", asked)
    first = ok(drawn)
    assert first["format"] == "gif" and first["uri"] == f"comic://{first['comic_id']}/gif"
    images = [b for b in drawn.content if b.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg", "a still strip, not the GIF"
    viewer, outside, calls = open_page(browser, host_url, apps, "viewer", "light", 900)
    frame = deliver(viewer, {}, drawn)
    picture = frame.locator(f"#picture[data-playing='{first['comic_id']}']")
    picture.wait_for(timeout=30_000)
    assert picture.get_attribute("src").startswith("data:image/gif;base64,")
    playing = frame.locator("#picture").evaluate("img => img.naturalWidth")
    assert playing == int(first["size"].split("x")[0]), "the browser decoded the GIF"
    assert ("resources/read", {"uri": first["uri"]}) in calls
    frame.locator("#change").fill("slower, and she jumps higher")
    frame.locator("#refine").click()
    frame.locator("#strip img").nth(1).wait_for(timeout=60_000)
    assert api.requests[-1].fields["output_format"] == "gif"
    newest = ok(apps.call("list_comics"))["comics"][0]
    assert newest["format"] == "gif" and newest["parent_id"] == first["comic_id"]
    frame.locator(f"#picture[data-playing='{newest['comic_id']}']").wait_for(timeout=30_000)
    assert outside == [], f"the viewer fetched {outside}"
