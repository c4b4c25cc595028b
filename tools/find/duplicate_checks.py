"""A library's duplicate checks, each in a thread of its own, one at a time.

At 100,000 photos a check takes most of a minute, about as long as an MCP client waits for a
tool call. So a check does not belong to the call that started it: it runs on, an asker who
stops waiting gets how far it has come, and asking again with the same question joins it or
collects its report. The last report of a local store is kept until its rows or signatures
change (paging through 1,000 groups asks again for each page); a store on a server may be
written by other engines, so its report serves only the asker that comes back for it, and
only soon and while nothing was written since.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.contract import page_of
from photocomic.tools.errors import InvalidInput
from photocomic.tools.find.contract import (
    CheckUnderWay,
    DuplicateCheckRunning,
    DuplicateGroup,
    DuplicateReport,
    DuplicatesAnswer,
    DuplicatesRequest,
    Filters,
)
from photocomic.tools.find.duplicates import (
    DUPLICATE_THRESHOLD,
    GROUP_SHOWN,
    check_threshold,
    duplicate_groups,
)

if TYPE_CHECKING:
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.owner.calls import Call
    from photocomic.tools.store.photo_store import PhotoStore

QUEUED = "waiting for another duplicate check to finish"
_UNCLAIMED_KEPT = 4  # finished reports no asker came back for yet, the newest kept...
_UNCLAIMED_FOR = 600.0  # ...for this many seconds, while no write of the library followed
CHECKS_AT_ONCE = 4  # questions checked or waiting their turn; another is refused until one ends


@dataclass(frozen=True)
class Question:
    """What a check answers: its threshold, the filters' expression and the caller's roots."""

    threshold: float
    expression: str
    within: tuple[str, ...]


@dataclass
class _Check:
    """One check: its question, how far it has come, then its report or its error."""

    question: Question
    folder: str | None = None  # the folder asked for, as the caller may name it again
    started: float = field(default_factory=time.monotonic)
    stage: str = QUEUED
    share: float = 0.0
    waiting: int = 0  # askers waiting for it now
    ended: tuple[float, tuple[int, int]] | None = None  # when, and the store's changes then
    done: threading.Event = field(default_factory=threading.Event)
    report: DuplicateReport | None = None
    failed: BaseException | None = None

    def moved(self, stage: str, share: float) -> None:
        self.stage, self.share = stage, max(self.share, share)

    def under_way(self) -> CheckUnderWay:
        return CheckUnderWay(
            state="running", progress=self.share, stage=self.stage,
            seconds=round(time.monotonic() - self.started, 1),
        )  # fmt: skip

    def running(self) -> DuplicateCheckRunning:
        return DuplicateCheckRunning(
            threshold=self.question.threshold, folder=self.folder, **self.under_way().model_dump()
        )

    def outcome(self) -> DuplicateReport:
        if self.failed is not None:
            raise self.failed
        assert self.report is not None
        return _copied(self.report)


class DuplicateChecks:
    """The duplicate checks of one store."""

    def __init__(self, store: PhotoStore) -> None:
        self.store = store
        self._lock = threading.Lock()  # the bookkeeping below, never held during a check
        self._one_at_a_time = threading.Lock()  # two checks would share two cores
        self._running: dict[Question, _Check] = {}
        self._unclaimed: dict[Question, _Check] = {}
        self._kept: tuple[Question, tuple[int, int], DuplicateReport] | None = None

    def report(
        self, threshold: float | None = None, filters: SearchFilters | None = None,
        wait: float | None = None,
    ) -> DuplicateReport | CheckUnderWay:  # fmt: skip
        """The groups for this question, or how far its check has come after ``wait``
        seconds (None: until it ends)."""
        self.store.require()
        chosen = check_threshold(DUPLICATE_THRESHOLD if threshold is None else threshold)
        within = tuple(str(r) for r in filters.within or ()) if filters is not None else ()
        question = Question(chosen, filters.expression() if filters is not None else "", within)
        with self._lock:
            if self._kept is not None and self._kept[:2] == (question, self._changes()):
                self._unclaimed.pop(question, None)
                return _copied(self._kept[2])
            check = self._running.get(question) or self._claimed(question)
            if check is None:
                self._room_for(question)
                check = self._start(question, filters)
            check.waiting += 1
        check.done.wait(wait)
        with self._lock:
            check.waiting -= 1
            finished = check.done.is_set()  # it may have ended as the wait ran out
            if finished:
                self._unclaimed.pop(question, None)
        return check.outcome() if finished else check.under_way()

    def running(self, within: Sequence[Path] | None) -> list[DuplicateCheckRunning]:
        """The checks not finished yet for a caller with these roots (the checks whose reports
        it could collect), the earliest first."""
        mine = tuple(str(r) for r in within or ())
        with self._lock:
            return [c.running() for q, c in self._running.items() if q.within == mine]

    def _room_for(self, question: Question) -> None:
        """Refuse a new question while CHECKS_AT_ONCE others are checked or waiting: each would
        hold its place (and a thread) for a minute at 100,000 photos."""
        if len(self._running) < CHECKS_AT_ONCE:
            return
        mine = [f"{q.threshold:g}" for q in self._running if q.within == question.within]
        others = len(self._running) - len(mine)  # other roots': their folders are not named
        named = [f"thresholds {', '.join(mine)}"] if mine else []
        named += [f"{others} asked through other folders"] if others else []
        raise InvalidInput(
            f"{len(self._running)} duplicate checks are already under way or waiting "
            f"({'; '.join(named)}); threshold {question.threshold:g} can be asked once one of "
            "them ends: [[duplicate_checks]]"
        )

    def _claimed(self, question: Question) -> _Check | None:
        """A finished check of this question no asker collected, if nothing was written to
        the library since it ended and it is recent (another engine may write a server's)."""
        check = self._unclaimed.pop(question, None)
        if check is None or check.ended is None:
            return None
        when, changes = check.ended
        fresh = time.monotonic() - when <= _UNCLAIMED_FOR and changes == self._changes()
        return check if fresh else None

    def _changes(self) -> tuple[int, int]:
        return (self.store.states.changes.value, self.store.signatures.changes.value)

    def _start(self, question: Question, filters: SearchFilters | None) -> _Check:
        check = _Check(question, folder=filters.folder if filters is not None else None)
        self._running[question] = check
        threading.Thread(
            target=self._run, args=(check, filters), name="duplicate check", daemon=True
        ).start()
        return check

    def _run(self, check: _Check, filters: SearchFilters | None) -> None:
        asked, rows_before = check.question, -1
        try:
            with self._one_at_a_time:
                rows_before = self.store.states.changes.value
                check.report = duplicate_groups(
                    self.store, asked.threshold, filters, [Path(r) for r in asked.within] or None,
                    progress=check.moved,
                )  # fmt: skip
        except Exception as exc:  # the asker hears it, not this thread's log
            check.failed = exc
        finally:
            if check.report is None and check.failed is None:
                check.failed = RuntimeError("the duplicate check stopped; ask again")
            with self._lock:
                del self._running[asked]
                if check.report is not None:
                    self._keep(check, rows_before)
                check.ended = (time.monotonic(), self._changes())
                if not check.waiting:  # for the asker that comes back, whatever is kept
                    self._unclaimed[asked] = check
                    for old in list(self._unclaimed)[:-_UNCLAIMED_KEPT]:
                        del self._unclaimed[old]
                check.done.set()

    def _keep(self, check: _Check, rows_before: int) -> None:
        """Keep a local store's report while no write of rows ended during its check (the
        signatures the check decoded and kept do not change what it found)."""
        if self.store.local and self.store.states.changes.value == rows_before:
            assert check.report is not None
            self._kept = (check.question, self._changes(), _copied(check.report))


def _copied(report: DuplicateReport) -> DuplicateReport:
    """A report whose list of groups a caller may change without changing the kept one."""
    return report.model_copy(update={"groups": list(report.groups)})


def find_duplicates(call: Call, request: DuplicatesRequest) -> DuplicatesAnswer:
    """The operation: groups among the photos the caller may see, the largest first."""
    filters = call.filters(Filters(folder=request.folder))
    report = call.library.searcher.duplicate_checks.report(request.threshold, filters, request.wait)
    if isinstance(report, CheckUnderWay):
        chosen = DUPLICATE_THRESHOLD if request.threshold is None else request.threshold
        return DuplicatesAnswer(
            threshold=chosen, checked=0, groups=[], offset=request.offset, **report.model_dump()
        )
    if call.scope.restricted:  # by the real path: a photo reached through a link is not here
        report.groups = [g for g in (_seen(call, g) for g in report.groups) if len(g.photos) > 1]
    shown, after = page_of(report.groups, request.offset, None if request.every else request.limit)
    groups = [
        g.model_copy(update={"size": len(g.photos),
                             "photos": g.photos if request.every else g.photos[:GROUP_SHOWN]})
        for g in shown
    ]  # fmt: skip
    return DuplicatesAnswer(
        threshold=report.threshold, checked=report.checked, groups=groups,
        total_groups=len(report.groups), offset=request.offset, next_offset=after,
    )  # fmt: skip


def _seen(call: Call, group: DuplicateGroup) -> DuplicateGroup:
    return group.model_copy(
        update={"photos": [p for p in group.photos if call.scope.allows(p.path)]}
    )
