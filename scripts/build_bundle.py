"""Stage photocomic as an MCP Bundle (``.mcpb``): the manifest, the sources, an icon.

The manifest is written from the server itself, so the tools and the prompt it lists carry
the same names and descriptions the server gives over MCP. The bundle uses the ``uv`` server
type: the client's uv installs the dependencies from ``pyproject.toml`` on first start.
``scripts/build_bundle.sh`` runs this, then ``mcpb validate`` and ``mcpb pack``.

    python scripts/build_bundle.py STAGE_DIR
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from importlib.metadata import metadata
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "server", "tools")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".pytest_cache")


def user_config() -> dict[str, dict[str, object]]:
    """What Claude Desktop asks for when the bundle is installed."""
    return {
        "photo_folders": {
            "type": "directory", "title": "Photo folders", "multiple": True, "required": True,
            "description": "The folders photocomic may read: it searches and draws only "
            "photos inside them.",
            "default": ["${HOME}/Pictures"],
        },
        "openai_api_key": {
            "type": "string", "title": "OpenAI API key", "sensitive": True, "required": False,
            "description": "For drawing comics with OpenAI's image models (kept in your "
            "keychain). Searching and the offline storyboard work without it.",
        },
        "milvus_uri": {
            "type": "string", "title": "Milvus server (optional)", "required": False,
            "default": "",
            "description": "http://host:19530 for a Milvus server or cluster; empty keeps the "
            "library in a Milvus Lite file in photocomic's data folder.",
        },
        "milvus_token": {
            "type": "string", "title": "Milvus token (optional)", "sensitive": True,
            "required": False, "default": "",
            "description": "user:password for that Milvus server, or a Zilliz Cloud API key.",
        },
        "image_model": {
            "type": "string", "title": "Image model", "required": False, "default": "auto",
            "description": "auto: the newest image model your key can use; or a model name "
            "to pin, such as gpt-image-2.",
        },
    }  # fmt: skip


def server_config() -> dict[str, object]:
    """How the client starts the server: uv installs and runs the bundled project, the folders
    become its roots, the secrets travel in the environment (never on the command line)."""
    return {
        "type": "uv",
        "entry_point": "server/cli.py",
        "mcp_config": {
            # uv's tool runner installs the bundled project for this machine's Python only
            # (`uv run` would first lock for every platform and Python version)
            "command": "uv",
            "args": ["tool", "run", "--quiet", "--from", "${__dirname}", "photocomic", "serve",
                     "--root", "${user_config.photo_folders}"],
            "env": {
                "OPENAI_API_KEY": "${user_config.openai_api_key}",
                "PHOTOCOMIC_DB": "${user_config.milvus_uri}",
                "PHOTOCOMIC_MILVUS_TOKEN": "${user_config.milvus_token}",
                "PHOTOCOMIC_IMAGE_MODEL": "${user_config.image_model}",
            },
        },
    }  # fmt: skip


async def listed() -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    """The tools (not the app-only helpers) and prompts, as the server lists them."""
    from photocomic.server.mcp_app import build_server
    from photocomic.tools.config import Settings

    server = build_server(Settings())
    tools = [
        {"name": t.name, "description": t.description or ""}
        for t in await server.list_tools()
        if "app" not in ((t.meta or {}).get("ui") or {}).get("visibility", ["model"])
    ]
    prompts = []
    for prompt in await server.list_prompts():
        names = [a.name for a in prompt.arguments or []]
        filled = await server.get_prompt(prompt.name, {n: f"${{arguments.{n}}}" for n in names})
        text = "\n".join(m.content.text for m in filled.messages if m.content.type == "text")
        prompts.append({"name": prompt.name, "description": prompt.description or "",
                        "arguments": names, "text": text})  # fmt: skip
    return tools, prompts


def manifest(tools: list[dict[str, str]], prompts: list[dict[str, object]]) -> dict[str, object]:
    project = metadata("photocomic")  # as installed from pyproject.toml
    return {
        "manifest_version": "0.4",
        "name": "photocomic",
        "display_name": "photocomic",
        "version": project["Version"],
        "description": project["Summary"],
        "long_description": "Indexes your photo folders on your own machine (offline image "
        "embeddings in Milvus), finds photos by example, by what they show or by a subject "
        "you taught it (your dog, your grandmother), and turns the ones you choose into "
        "comics with OpenAI's image models, refined turn by turn: one panel, a brushed "
        "part, or several variants to pick from.",
        "author": {"name": "The photocomic developers"},
        "license": project.get("License-Expression") or project.get("License") or "",
        "icon": "icon.png",
        "keywords": ["photos", "search", "comics", "milvus", "openai", "images"],
        "server": server_config(),
        "tools": tools,
        "prompts": prompts,
        "compatibility": {
            "platforms": ["darwin", "linux"],  # Milvus Lite does not run on Windows
            "runtimes": {"python": project["Requires-Python"]},
        },
        "user_config": user_config(),
    }


def icon(path: Path) -> None:
    """A comic page of four panels with a speech balloon, drawn at 512 px (the size Claude
    Desktop asks for), so no binary lives in the repository."""
    k = 2  # drawn on a 256 grid, scaled
    picture = Image.new("RGBA", (256 * k, 256 * k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)

    def box(*xy: int) -> tuple[int, ...]:
        return tuple(v * k for v in xy)

    draw.rounded_rectangle(box(8, 8, 248, 248), 36 * k, fill=(47, 111, 228))
    for x in (28, 134):
        for y in (28, 134):
            draw.rounded_rectangle(box(x, y, x + 94, y + 94), 10 * k, fill=(250, 246, 232))
    draw.ellipse(box(150, 40, 214, 88), fill=(255, 255, 255), outline=(30, 30, 30), width=4 * k)
    draw.polygon([box(164, 82), box(156, 104), box(182, 86)], fill=(255, 255, 255))
    draw.ellipse(box(48, 160, 104, 208), fill=(255, 176, 0))
    picture.save(path, "PNG")


def stage(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED)
        elif source.exists():
            shutil.copy2(source, target / name)
    (target / ".mcpbignore").write_text(".venv/\n__pycache__/\n*.pyc\nuv.lock\n")
    icon(target / "icon.png")
    tools, prompts = asyncio.run(listed())
    text = json.dumps(manifest(tools, prompts), indent=2, ensure_ascii=False) + "\n"
    (target / "manifest.json").write_text(text, encoding="utf-8")
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(stage(Path(sys.argv[1]).resolve()))
