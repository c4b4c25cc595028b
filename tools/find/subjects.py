"""The operations on named subjects (a pet, a person): teach, list, show, forget, rename, and
the photos that show one. How a subject is learned and ranked is :mod:`subject_model`.

A caller sees a subject only when every photo it was taught from, example or counter-example,
lies inside the caller's roots; to it the others do not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from photocomic.tools.comics.contract import SheetRef
from photocomic.tools.errors import DecodeError, InvalidInput
from photocomic.tools.find.contract import (
    Filters,
    FindRequest,
    ForgetSubject,
    ListSubjects,
    RenameSubject,
    SearchAnswer,
    SearchResult,
    ShowSubject,
    SubjectAnswer,
    SubjectInfo,
    SubjectList,
    SubjectRequest,
)
from photocomic.tools.find.filters import SearchFilters
from photocomic.tools.find.ranking import answer_of, to_hits
from photocomic.tools.find.subject_model import Ranked
from photocomic.tools.policy import check_limit, check_offset, require_roots
from photocomic.tools.store.subject_store import Subject
from photocomic.tools.words import plural

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call


def subject_sees(call: Call) -> Callable[[Subject], bool]:
    """Whether the caller may see (and so change) a subject."""
    scope = call.scope
    if not scope.restricted:
        return lambda subject: True
    store = call.library.store

    def sees(subject: Subject) -> bool:
        rows = store.get_some([*subject.positives, *subject.negatives])
        return all(scope.allows(row.path) for row in rows.values())

    return sees


def remember_subject(call: Call, request: SubjectRequest) -> SubjectAnswer:
    """Teach a subject from photo ids or paths (a path never indexed is indexed now)."""
    require_roots(call.scope)
    positives = _example_ids(call, request.photos)
    negatives = _example_ids(call, request.not_photos)
    if not (positives or negatives):  # every one given lay outside the roots or was unknown
        raise InvalidInput("none of the photos given can be used as an example")
    library = call.library
    with library.writing:
        subject = library.subjects.teach(request.name, positives, negatives, subject_sees(call))
    found = FindRequest(text=subject.name, limit=request.limit, sheet=request.sheet)
    photos, ranked = _ranked_photos(call, subject, found, call.filters(Filters()))
    counted = (ranked.total, ranked.estimate_is_floor)  # ranked once for both
    return SubjectAnswer(subject=subject_info(call, subject, counted), photos=photos)


def _example_ids(call: Call, items: Sequence[int | str]) -> list[int]:
    refs = call.photo_refs(items)
    unknown = [r.local_path() for r in refs if r.photo_id is None]
    if unknown:
        library = call.library
        with library.writing:
            summary = library.indexer(call.scope, call.settings).index_files(unknown)
        if summary.failed:
            failed = summary.failed[0]
            raise DecodeError(f"cannot use {failed.path} as an example: {failed.error}")
        refs = call.photo_refs(items)
    return [int(r.photo_id) for r in refs if r.photo_id is not None]


def subject_photos(
    call: Call, subject: Subject, request: FindRequest, filters: SearchFilters
) -> SearchAnswer:
    """A subject's photos, best first, from place ``offset`` on, under the filters."""
    return _ranked_photos(call, subject, request, filters)[0]


def _ranked_photos(
    call: Call, subject: Subject, request: FindRequest, filters: SearchFilters
) -> tuple[SearchAnswer, Ranked]:
    check_limit(request.limit)
    check_offset(request.offset)
    library = call.library
    library.store.require()
    ranked = library.subjects.rank(
        subject, request.limit, request.offset, filters.expression(), request.diversify,
        call.scope.allows if call.scope.restricted else None,
    )  # fmt: skip
    end = request.offset + len(ranked.hits)
    result = SearchResult(
        query=subject.name, hits=to_hits(ranked.hits, start=request.offset + 1),
        note=shown_note(subject.name, ranked.total, ranked.estimate_is_floor), total=ranked.total,
        subject=subject.name, next_offset=end if end < ranked.total else None,
    )  # fmt: skip
    return answer_of(call.scope, [result], request.sheet), ranked


def shown_note(name: str, count: int, floor: bool) -> str:
    """How many photos show a subject, in the words every answer about it uses."""
    verb = "shows" if count == 1 else "show"
    return f"{'at least ' if floor else ''}{plural(count, 'photo')} in the library {verb} {name}"


def subject_info(
    call: Call, subject: Subject, counted: tuple[int, bool] | None = None
) -> SubjectInfo:
    """A subject as the caller sees it; ``counted``: its count when the caller ranked it."""
    library, scope = call.library, call.scope
    rows = library.store.get_some(subject.positives[:12])
    examples = [
        rows[i].ref() for i in subject.positives[:12] if i in rows and scope.allows(rows[i].path)
    ]
    if counted is None:
        seen = scope.allows if scope.restricted else None
        expr = call.filters(Filters()).expression()
        ranked = library.subjects.rank(subject, 0, 0, expr, seen=seen)  # find_photos' count
        counted = (ranked.total, ranked.estimate_is_floor)
    sheets = [
        SheetRef(subject=subject.name, style=style, comic_id=comic_id)
        for style, comic_id in sorted(subject.sheets().items())
    ]
    return SubjectInfo(
        name=subject.name, positives=len(subject.positives),
        negatives=len(subject.negatives), examples=examples,
        trained_at=subject.info.get("trained_at"), estimate=counted[0],
        estimate_is_floor=counted[1], notes=list(subject.info.get("notes") or []), sheets=sheets,
    )  # fmt: skip


def list_subjects(call: Call, request: ListSubjects) -> SubjectList:
    subjects = call.library.subjects.all(subject_sees(call))
    return SubjectList(subjects=[subject_info(call, s) for s in subjects])


def show_subject(call: Call, request: ShowSubject) -> SubjectInfo:
    return subject_info(call, call.library.subjects.get(request.name, subject_sees(call)))


def forget_subject(call: Call, request: ForgetSubject) -> SubjectInfo:
    library = call.library
    with library.writing:
        subject = library.subjects.remove(request.name, subject_sees(call))
    return subject_info(call, subject)


def rename_subject(call: Call, request: RenameSubject) -> SubjectInfo:
    library = call.library
    with library.writing:
        subject = library.subjects.rename(request.name, request.new_name, subject_sees(call))
    return subject_info(call, subject)
