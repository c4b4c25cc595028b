"""The operations on named subjects (a pet, a person): teach, list, show, forget, rename, and
the photos that show one. How a subject is learned and ranked is :mod:`subject_model`.

A caller sees a subject only when every photo it was taught from, example or counter-example,
lies inside the caller's roots; to it the others do not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

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
from photocomic.tools.policy import check_limit, check_offset, require_roots
from photocomic.tools.store.subject_store import Subject

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
    if not (positives or negatives):
        raise InvalidInput("give photos=[ids or paths] that show it (or not_photos=[...])")
    library = call.library
    with library.writing:
        subject = library.subjects.teach(request.name, positives, negatives, subject_sees(call))
    found = FindRequest(text=subject.name, limit=request.limit, sheet=request.sheet)
    photos = subject_photos(call, subject, found, call.filters(Filters()))
    return SubjectAnswer(subject=subject_info(call, subject), photos=photos)


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
    check_limit(request.limit)
    check_offset(request.offset)
    library = call.library
    library.store.require()
    ranked = library.subjects.rank(
        subject, request.limit, request.offset, filters.expression(), request.diversify
    )
    about = "at least " if ranked.estimate_is_floor else "about "
    note = f"{about}{ranked.estimate} photos in the library show {subject.name}"
    result = SearchResult(
        query=subject.name, hits=to_hits(ranked.hits, start=request.offset + 1),
        note=note, total=ranked.total, subject=subject.name,
    )  # fmt: skip
    return answer_of(call.scope, [result], request.sheet)


def subject_info(call: Call, subject: Subject) -> SubjectInfo:
    library, scope = call.library, call.scope
    rows = library.store.get_some(subject.positives[:12])
    examples = [
        rows[i].ref() for i in subject.positives[:12] if i in rows and scope.allows(rows[i].path)
    ]
    expr = call.filters(Filters()).expression()
    estimate, floor = library.subjects.estimate(subject, expr)
    return SubjectInfo(
        name=subject.name, positives=len(subject.positives),
        negatives=len(subject.negatives), examples=examples,
        trained_at=subject.info.get("trained_at"), estimate=estimate,
        estimate_is_floor=floor, notes=list(subject.info.get("notes") or []),
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
