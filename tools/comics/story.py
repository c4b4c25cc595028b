"""A comic's story across its versions: what the first comic told, and every change since.

A refinement's own prompt is only its change ("make it night"); sent alone, the third
refinement would forget the story and the scarf asked for before it. So each record keeps the
story of its family and the changes made on the way to it, and every refinement (a panel
redo, a variant, a branch from any version, a sheet refined) sends them before its change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from photocomic.tools.comics.contract import ComicRecord

CHANGES_SENT = 12  # earlier changes spelled out in a prompt; older ones are counted


@dataclass
class Story:
    """The first comic's story and the changes made since, oldest first."""

    story: str
    changes: list[str] = field(default_factory=list)

    def then(self, change: str) -> Story:
        return Story(self.story, [*self.changes, change])


def story_of(parent: ComicRecord, lineage: Callable[[str], list[ComicRecord]]) -> Story:
    """The story ``parent`` tells; a record made before stories were kept has it read from
    its lineage (newest first, back to the first comic)."""
    if parent.story:
        return Story(parent.story, list(parent.changes))
    versions = lineage(parent.comic_id) or [parent]
    first, *later = reversed(versions)
    return Story(first.user_prompt, [r.user_prompt for r in later])


def story_words(story: Story) -> str:
    """The words a refinement sends before its change."""
    parts = [f"The comic's story, for context: {story.story}"]
    if story.changes:
        shown = story.changes[-CHANGES_SENT:]
        older = len(story.changes) - len(shown)
        lines = "\n".join(f"{n}. {change}" for n, change in enumerate(shown, older + 1))
        head = "Changes already made to it, in order; the earlier comic shows them and they stay"
        if older:
            head += f" (the first {older} are not repeated here)"
        parts.append(f"{head}:\n{lines}")
    return "\n\n".join(parts)
