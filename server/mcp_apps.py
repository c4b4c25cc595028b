"""The MCP Apps of photocomic: a photo picker and a comic viewer, as ``ui://`` pages.

Clients that render MCP Apps (the ``io.modelcontextprotocol/ui`` extension) show the picker
beside search answers and the viewer beside comic answers; every tool still answers with text
and pictures, so other clients lose nothing. Each page is one self-contained HTML document: the
ext-apps bundle, the shared script and the page's own script are inlined, so the page loads
nothing from the network (the frame's content security policy allows nothing else). Pictures
reach the pages only as data the tools send (the app-only ``app_thumbnails`` and
``app_comic_lineage``), never as file paths.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

PICKER = "ui://photocomic/picker.html"
VIEWER = "ui://photocomic/viewer.html"
PAGES = {PICKER: ("picker", "Photo picker"), VIEWER: ("viewer", "Comic viewer")}


def _asset(name: str) -> str:
    return resources.files("photocomic.server").joinpath("apps", name).read_text(encoding="utf-8")


def _inline_script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


@cache
def page_html(uri: str) -> str:
    """The whole page for ``uri``: styles, markup and every script inlined."""
    stem, title = PAGES[uri]
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>photocomic: {title}</title><style>{_asset('page.css')}</style></head><body>",
            _asset(f"{stem}.html"),
            _inline_script(_asset("ext-apps.js")),
            _inline_script(_asset("common.js")),
            _inline_script(_asset(f"{stem}.js")),
            "</body></html>",
        ]
    )
