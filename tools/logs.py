"""Log output of the server: stderr only (stdout is the stdio protocol channel), no API key.

Why a formatter wrapper: a traceback or a library's message can quote the request that
failed, and with it the key; scrubbing the formatted text catches every such path at once.
"""

from __future__ import annotations

import logging
import os
import re

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*.]{8,}")


def scrub(text: str) -> str:
    """``text`` without the OpenAI key (or anything shaped like one)."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if len(key) >= 6:
        text = text.replace(key, "[redacted]")
    return _KEY_LIKE.sub(r"\1…[redacted]", text)


def redact_handlers(logger: logging.Logger) -> None:
    """Make every handler of ``logger`` scrub what it writes (once per handler)."""
    for handler in logger.handlers:
        if getattr(handler, "_photocomic_redacted", False):
            continue
        original = handler.format

        def format_scrubbed(record: logging.LogRecord, _format=original) -> str:  # type: ignore[no-untyped-def]
            return scrub(_format(record))

        handler.format = format_scrubbed  # type: ignore[method-assign]
        handler._photocomic_redacted = True  # type: ignore[attr-defined]


def setup_logging() -> None:
    """Server logs to stderr at WARNING (the CLI set that up), keys scrubbed everywhere."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    redact_handlers(root)
    # The SDK logs every refused call at INFO: useful while debugging, noise otherwise.
    logging.getLogger("mcp").setLevel(logging.WARNING)
