"""Fast checks of the MCP server's parts that need no server: start-up imports, uploads, sheets."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_photos
from photocomic.server.http_transport import is_loopback, token_text
from photocomic.tools.comics.previews import hit_sheet
from photocomic.tools.errors import DecodeError, InvalidInput, PathRefused
from photocomic.tools.logs import scrub
from photocomic.tools.policy import Scope, decode_upload
from PIL import Image
from pydantic import SecretStr


def test_declaring_the_mcp_tools_imports_no_engine() -> None:
    """tools/list must answer within seconds of launch: the tools' output schemas (the shared
    result models) come without numpy, Pillow, torch, the store or the OpenAI client."""
    code = (
        "import sys, photocomic.server.mcp_app; "
        "print(sorted(m for m in ('numpy', 'PIL', 'torch', 'timm', 'pymilvus', 'openai') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_engine_starts_without_the_model_libraries() -> None:
    """A re-scan or a search by id starts an engine that never embeds: loading PyTorch and timm
    would add seconds to each start (a re-scan of 10,000 unchanged files took 5.3 s, not 2.2 s,
    while the engine imported PyTorch)."""
    code = (
        "import sys, photocomic.tools.owner.engine; "
        "print(sorted(m for m in ('torch', 'timm', 'openvino') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_upload_accepts_base64_with_line_breaks_and_data_urls() -> None:
    data = _jpeg()
    encoded = base64.encodebytes(data).decode()  # MIME style, a line break every 76 chars
    assert decode_upload(encoded, 10_000) == data
    assert decode_upload("data:image/jpeg;base64," + base64.b64encode(data).decode(), 10_000)


def test_upload_size_is_refused_before_decoding() -> None:
    # Not even valid base64: the length alone must refuse it.
    with pytest.raises(InvalidInput, match="too large"):
        decode_upload("!" * 50_000, 10_000)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (base64.b64encode(b"hello, not a picture").decode(), DecodeError, "picture"),
        ("abc$", InvalidInput, "not valid base64"),
        ("", InvalidInput, "empty"),
        ("data:image/png,rawbytes", InvalidInput, "base64"),
        ("AAAA\x00", PathRefused, "NUL"),
    ],
)
def test_upload_must_be_an_image(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_upload(text, 10_000)


def test_contact_sheet_is_small_and_the_scope_says_what_may_be_opened(tmp_path: Path) -> None:
    inside_root = write_photos(tmp_path / "root", 6)
    outside = write_photos(tmp_path / "elsewhere", 1)
    scope = Scope.of([tmp_path / "root"])
    assert scope.allows(str(inside_root[0])) and not scope.allows(str(outside[0]))
    assert Scope.of(None).allows(str(outside[0]))  # the command line reads what its user can
    paths = [str(p) for p in inside_root] + [str(outside[0])]
    sheet = hit_sheet([p if scope.allows(p) else None for p in paths])
    assert len(sheet) < 90_000
    picture = Image.open(io.BytesIO(sheet))
    assert picture.width <= 800
    many = hit_sheet([str(inside_root[n % 6]) for n in range(100)])
    assert len(many) < 90_000


def test_small_helpers() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert token_text(SecretStr("abc")) == "abc" and token_text(" ") is None
    assert token_text(None) is None


def test_scrub_removes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop")
    assert "abcdefghijklmnop" not in scrub("key sk-proj-abcdefghijklmnop refused")
    assert "zzzzzzzzzzzz" not in scrub("other sk-zzzzzzzzzzzzzzzz")


def test_status_names_the_call_that_collects_a_duplicate_check_under_way() -> None:
    """A check that outlasted its call shows in library_status, with the find_duplicates call
    (its arguments spelled as the tool takes them) that joins it and collects its groups."""
    import json
    import re

    from photocomic.server import mcp_models as out
    from photocomic.server.mcp_answers import status_answer
    from photocomic.tools.find.contract import DuplicateCheckRunning, DuplicatesRequest

    folder = '/photos/a "trip"'
    running = DuplicateCheckRunning(
        threshold=0.9, folder=folder, state="running", progress=0.29, seconds=40.3,
        stage="finding each photo's nearest",
    )  # fmt: skip
    status = out.LibraryStatus(
        db="photos.db", collection="photos", model="m", dim=2, photos=100_000, data_dir="d",
        roots=["/photos"], comics=0, duplicate_checks=[running], max_upload_bytes=1,
    )  # fmt: skip
    text = status_answer(status).content[0].text  # type: ignore[union-attr]
    assert "finding each photo's nearest, about 29% done after 40 s" in text
    call = re.search(r"find_duplicates\((.*)\) collects its groups", text)
    assert call is not None, text
    arguments = json.loads("{" + re.sub(r"(\w+)=", r'"\1": ', call[1]) + "}")
    assert arguments == {"threshold": 0.9, "folder": folder}
    assert set(arguments) <= set(DuplicatesRequest.model_fields)
