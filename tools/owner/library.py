"""The one object every front door drives: a photo store, its model, and every operation a
door offers, each judged by the caller's scope first.

Not tied to MCP or to a transport: an engine process holds one of these per store and answers
every door's requests with it; a door running in-process holds one itself. Every path, photo id
and limit passes :mod:`policy` here, so the roots of an MCP door apply to searches (inside the
Milvus query), to photos given by id, to a comic's reference photos and to those a refinement
inherits from an earlier comic.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.previews import hit_sheet, preview_jpeg, side_by_side, thumbnail_jpeg
from photocomic.tools.comics.studio import ComicStudio, PartialFn
from photocomic.tools.config import Settings
from photocomic.tools.errors import DecodeError, InvalidInput, ModelMismatch, NotFound, PathRefused
from photocomic.tools.find.search import Searcher, SearchFilters, to_hits
from photocomic.tools.find.subjects import Subjects
from photocomic.tools.photos.indexer import Indexer, ProgressFn, check_model
from photocomic.tools.policy import (
    Scope,
    check_limit,
    check_offset,
    decode_upload,
    photo_ids,
    photo_items,
    require_roots,
)
from photocomic.tools.requests import (
    ComicRequest,
    DuplicatesRequest,
    Filters,
    FindRequest,
    SimilarRequest,
    SubjectRequest,
)
from photocomic.tools.results import (
    ComicList,
    ComicRecord,
    DryRunResult,
    DuplicateGroup,
    DuplicatesAnswer,
    IndexSummary,
    LibraryStatus,
    Lineage,
    LineageStep,
    PhotoRef,
    SearchAnswer,
    SearchResult,
    SubjectAnswer,
    SubjectInfo,
    SubjectList,
    Thumbnail,
    Thumbnails,
)
from photocomic.tools.store.milvus import Connection
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.subject_store import Subject

if TYPE_CHECKING:
    from photocomic.tools.photos.embedder import Embedder

EmbedderFn = Callable[[], "Embedder"]


class Library:
    """One store and its model, shared by every door that asks for it."""

    def __init__(
        self,
        settings: Settings,
        embedder: EmbedderFn | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = PhotoStore(settings, connection)
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._load_embedder = embedder or self._own_embedder
        self.searcher = Searcher(self.store, self.embedder)
        self.studio = ComicStudio(settings)
        self.subjects = Subjects(self.store)
        self.writing = threading.Lock()  # one index run (or migration) writes at a time

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _own_embedder(self) -> Embedder:
        from photocomic.tools.photos.embedder import Embedder

        return Embedder.from_settings(self.settings)

    def embedder(self) -> Embedder:
        """The model, loaded once on first use (start-up stays fast)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load_embedder()
            return self._embedder

    @property
    def model_loaded(self) -> bool:
        return self._embedder is not None

    # -- policy --------------------------------------------------------------------------

    def filters(self, scope: Scope, given: Filters) -> SearchFilters:
        """The caller's filters with its folder checked and its roots applied in Milvus."""
        require_roots(scope)
        folder = str(scope.resolve(given.folder, "dir")) if given.folder else None
        return SearchFilters(
            folder=folder,
            taken_after=given.taken_after,
            taken_before=given.taken_before,
            tag=given.tag,
            within=scope.search_roots(),
        )

    def photo_refs(self, scope: Scope, items: Sequence[int | str]) -> list[PhotoRef]:
        """Photo ids (from searches) or paths (inside the roots for MCP) as references."""
        parsed = photo_items(items)
        ids = [i for i in parsed if isinstance(i, int)]
        rows = {r.photo_id: r for r in self.store.get(ids)} if ids else {}
        refs: list[PhotoRef] = []
        for item in parsed:
            if isinstance(item, int):
                row = rows[item]
                scope.check_photo(row.photo_id, row.path)
                refs.append(row.ref())
                continue
            path = str(scope.resolve(item, "file"))
            known = self.store.find_path(path)
            refs.append(known.ref() if known else PhotoRef(path=path))
        return refs

    def _check_ids(self, scope: Scope, ids: Sequence[int]) -> None:
        if scope.restricted and ids:
            for row in self.store.get(list(dict.fromkeys(ids))):
                scope.check_photo(row.photo_id, row.path)

    # -- operations ----------------------------------------------------------------------

    def status(self, scope: Scope) -> LibraryStatus:
        info = self.store.model_info()
        return LibraryStatus(
            db=self.store.uri,
            collection=self.store.collection,
            model=info.model if info else None,
            dim=info.dim if info else None,
            precision=str(info.precision.get("precision")) if info and info.precision else None,
            photos=self.store.count() if info else 0,
            data_dir=str(self.settings.data_dir),
            roots=list(scope.roots or []),
            comics=self.comics(scope, 1).total,
            model_loaded=self.model_loaded,
        )

    def index(
        self,
        scope: Scope,
        folder: str,
        recursive: bool = True,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        knobs: Settings | None = None,
    ) -> IndexSummary:
        """Index one folder; ``knobs`` are the asking door's batch size, workers and hidden."""
        require_roots(scope)
        real = scope.resolve(folder, "dir")
        s = knobs or self.settings
        check_model(self.store, s.model)
        if s.model != self.settings.model:
            raise ModelMismatch(
                f"this library is open with model {self.settings.model}, not {s.model}: use a "
                f"separate store for {s.model} (--db another.db or PHOTOCOMIC_COLLECTION)"
            )
        with self.writing:
            return self._indexer(scope, s).index(
                [real], recursive=recursive, progress=progress, cancel=cancel
            )

    def _indexer(self, scope: Scope, knobs: Settings | None) -> Indexer:
        s = knobs or self.settings
        return Indexer(
            self.store, self.embedder, model_name=self.settings.model, batch_size=s.batch_size,
            workers=s.workers, include_hidden=s.include_hidden,
            roots=scope.real_roots() if scope.restricted else None,
        )  # fmt: skip

    def similar(
        self, scope: Scope, request: SimilarRequest, upload_limit: int | None = None
    ) -> SearchAnswer:
        check_limit(request.limit)
        filters = self.filters(scope, request)
        sources: list[str | bytes] = [str(scope.resolve(i, "file")) for i in request.images]
        if request.image_base64 is not None:
            limit = upload_limit or self.settings.max_upload_bytes
            sources.append(decode_upload(request.image_base64, limit))
        examples = [photo_ids(n, getattr(request, n)) for n in ("photo_ids", "like", "unlike")]
        self._check_ids(scope, [i for group in examples for i in group])
        results = self.searcher.similar(
            sources=sources or None,
            photo_ids=request.photo_ids or None,
            like=request.like or None,
            unlike=request.unlike or None,
            limit=request.limit,
            filters=filters,
            diversify=request.diversify,
        )
        if request.image_base64 is not None:
            for result in results:
                if result.query.startswith("uploaded image"):
                    result.query = "the uploaded image" + result.query[len("uploaded image") :]
        return self._answer(scope, results, request.sheet)

    def find(self, scope: Scope, request: FindRequest) -> SearchAnswer:
        """Photos of a remembered subject when the text names one, else by tag words."""
        filters = self.filters(scope, request)
        subject = self.subjects.find(request.text, self.sees(scope))
        if subject is not None:
            return self._subject_photos(scope, subject, request, filters)
        found = self.searcher.find(
            request.text, request.limit, filters, request.diversify, request.offset
        )
        return self._answer(scope, [found], request.sheet)

    def _subject_photos(
        self, scope: Scope, subject: Subject, request: FindRequest, filters: SearchFilters
    ) -> SearchAnswer:
        check_limit(request.limit)
        check_offset(request.offset)
        self.store.require()
        ranked = self.subjects.rank(
            subject, request.limit, request.offset, filters.expression(), request.diversify
        )
        about = "at least " if ranked.estimate_is_floor else "about "
        note = f"{about}{ranked.estimate} photos in the library show {subject.name}"
        result = SearchResult(
            query=subject.name, hits=to_hits(ranked.hits, start=request.offset + 1),
            note=note, total=ranked.total, subject=subject.name,
        )  # fmt: skip
        return self._answer(scope, [result], request.sheet)

    # -- subjects ------------------------------------------------------------------------

    def remember(
        self, scope: Scope, request: SubjectRequest, knobs: Settings | None = None
    ) -> SubjectAnswer:
        """Teach a subject from photo ids or paths (a path never indexed is indexed now)."""
        require_roots(scope)
        positives = self._example_ids(scope, request.photos, knobs)
        negatives = self._example_ids(scope, request.not_photos, knobs)
        if not (positives or negatives):
            raise InvalidInput("give photos=[ids or paths] that show it (or not_photos=[...])")
        with self.writing:
            subject = self.subjects.teach(request.name, positives, negatives, self.sees(scope))
        found = FindRequest(text=subject.name, limit=request.limit, sheet=request.sheet)
        photos = self._subject_photos(scope, subject, found, self.filters(scope, Filters()))
        return SubjectAnswer(subject=self.subject_info(scope, subject), photos=photos)

    def _example_ids(
        self, scope: Scope, items: Sequence[int | str], knobs: Settings | None
    ) -> list[int]:
        refs = self.photo_refs(scope, items)
        unknown = [r.local_path() for r in refs if r.photo_id is None]
        if unknown:
            with self.writing:
                summary = self._indexer(scope, knobs).index_files(unknown)
            if summary.failed:
                failed = summary.failed[0]
                raise DecodeError(f"cannot use {failed.path} as an example: {failed.error}")
            refs = self.photo_refs(scope, items)
        return [int(r.photo_id) for r in refs if r.photo_id is not None]

    def subject_info(self, scope: Scope, subject: Subject) -> SubjectInfo:
        rows = self.store.get_some(subject.positives[:12])
        examples = [
            rows[i].ref()
            for i in subject.positives[:12]
            if i in rows and scope.allows(rows[i].path)
        ]
        estimate, floor = self.subjects.estimate(
            subject, self.filters(scope, Filters()).expression()
        )
        return SubjectInfo(
            name=subject.name, positives=len(subject.positives),
            negatives=len(subject.negatives), examples=examples,
            trained_at=subject.info.get("trained_at"), estimate=estimate,
            estimate_is_floor=floor, notes=list(subject.info.get("notes") or []),
        )  # fmt: skip

    def list_subjects(self, scope: Scope) -> SubjectList:
        subjects = self.subjects.all(self.sees(scope))
        return SubjectList(subjects=[self.subject_info(scope, s) for s in subjects])

    def show_subject(self, scope: Scope, name: str) -> SubjectInfo:
        return self.subject_info(scope, self.subjects.get(name, self.sees(scope)))

    def forget_subject(self, scope: Scope, name: str) -> SubjectInfo:
        with self.writing:
            subject = self.subjects.remove(name, self.sees(scope))
        return self.subject_info(scope, subject)

    def rename_subject(self, scope: Scope, name: str, new_name: str) -> SubjectInfo:
        with self.writing:
            subject = self.subjects.rename(name, new_name, self.sees(scope))
        return self.subject_info(scope, subject)

    def sees(self, scope: Scope) -> Callable[[Subject], bool]:
        """Whether the caller may see (and so change) a subject: every photo it was taught
        from, example or counter-example, lies inside the caller's roots."""
        if not scope.restricted:
            return lambda subject: True

        def sees(subject: Subject) -> bool:
            rows = self.store.get_some([*subject.positives, *subject.negatives])
            return all(scope.allows(row.path) for row in rows.values())

        return sees

    def _answer(self, scope: Scope, results: list[SearchResult], sheet: bool) -> SearchAnswer:
        answer = SearchAnswer(results=results)
        if sheet and results and results[0].hits:
            paths = [h.local_path() for h in results[0].hits]
            allowed = [p if scope.allows(p) else None for p in paths]
            answer.sheet_jpeg = base64.b64encode(hit_sheet(allowed, scope.within())).decode()
        return answer

    def duplicates(self, scope: Scope, request: DuplicatesRequest) -> DuplicatesAnswer:
        check_limit(request.limit, most=10_000)
        filters = self.filters(scope, Filters(folder=request.folder))
        report = self.searcher.duplicates(request.threshold, filters)
        groups = report.groups
        return DuplicatesAnswer(
            threshold=report.threshold,
            checked=report.checked,
            groups=[DuplicateGroup(photos=g.photos) for g in groups[: request.limit]],
            total_groups=len(groups),
        )

    def comic(
        self,
        scope: Scope,
        request: ComicRequest,
        access: ApiAccess | None = None,
        on_partial: PartialFn | None = None,
        settings: Settings | None = None,
    ) -> ComicRecord | DryRunResult:
        """Draw (or dry-run) a comic; ``settings`` are the asking door's (its image model)."""
        require_roots(scope)
        refs = self.photo_refs(scope, request.photos)
        if request.subject:
            subject = self.subjects.get(request.subject, self.sees(scope))
            if refs:
                raise InvalidInput(
                    "give a subject or photos, not both: the subject picks its photos"
                )
            expr = self.filters(scope, Filters()).expression()
            refs = [row.ref() for row in self.subjects.references(subject, expr)]
            if not refs:
                raise NotFound(f"no photo of {subject.name} lies inside the allowed folders")
            request = request.model_copy(update={"subject": subject.name})

        def allow(ref: PhotoRef) -> None:
            scope.check_photo(ref.photo_id, ref.local_path())

        if request.refine:
            self.visible_comic(scope, request.refine)
        studio = ComicStudio(settings) if settings is not None else self.studio
        return studio.generate(request, refs, access, allow, on_partial, scope.within())

    def variants_sheet(self, record: ComicRecord) -> bytes:
        """The drawings of one request side by side, numbered as the answer lists them."""
        paths = [self.studio.get(comic_id).path for comic_id in record.variants]
        return side_by_side(paths)

    def visible_comic(self, scope: Scope, comic_id: str) -> ComicRecord:
        """A comic the caller may see and refine: every photo it and its earlier versions were
        drawn from lies inside the caller's roots. Others are, to it, as if they did not exist."""
        record = self.studio.get(comic_id)
        if not self._sees(scope, record, {}):
            raise NotFound(
                f"no comic {comic_id.strip()[:40]!r}: list_comics shows the comics made from "
                "this server's photo folders"
            )
        return record

    def _sees(self, scope: Scope, record: ComicRecord, known: dict[str, bool]) -> bool:
        if not scope.restricted:
            return True
        if record.comic_id in known:
            return known[record.comic_id]
        known[record.comic_id] = False  # a loop in damaged records shows nothing
        seen = all(scope.allows(ref.local_path()) for ref in record.photos)
        if seen and record.parent_id:
            with contextlib.suppress(NotFound):  # a deleted earlier version hides nothing
                seen = self._sees(scope, self.studio.get(record.parent_id), known)
        known[record.comic_id] = seen
        return seen

    def comics(self, scope: Scope, limit: int) -> ComicList:
        check_limit(limit)
        known: dict[str, bool] = {}
        records = [r for r in self.studio.list() if self._sees(scope, r, known)]
        return ComicList(comics=records[:limit], total=len(records))

    def thumbnail(self, scope: Scope, photo_id: int) -> bytes:
        require_roots(scope)
        row = self.store.get([photo_id])[0]
        scope.check_photo(row.photo_id, row.path)
        return thumbnail_jpeg(row.path, within=scope.within())

    def thumbnails(self, scope: Scope, photo_ids: Sequence[int], side: int) -> Thumbnails:
        """Small pictures of photos for a page (an MCP App): those the caller may see."""
        check_limit(len(photo_ids) or 1, "photo_ids")
        if not 32 <= side <= 384:
            raise InvalidInput(f"side must be between 32 and 384 pixels, not {side}")
        rows = self.store.get_some(list(photo_ids))
        found = []
        for pid in photo_ids:
            row = rows.get(pid)
            data = None
            if row is not None and scope.allows(row.path):
                with contextlib.suppress(DecodeError, PathRefused):
                    data = thumbnail_jpeg(row.path, side, scope.within())
                    data = base64.b64encode(data).decode()
            found.append(Thumbnail(photo_id=pid, jpeg=data))
        return Thumbnails(thumbnails=found)

    def lineage(self, scope: Scope, comic_id: str) -> Lineage:
        self.visible_comic(scope, comic_id)
        known: dict[str, bool] = {}
        ancestors = [r for r in self.studio.lineage(comic_id) if self._sees(scope, r, known)]
        steps = [_step(r, 320) for r in ancestors]
        root = ancestors[-1].comic_id if ancestors else comic_id
        family = [r for r in self._family(root) if self._sees(scope, r, known)]
        return Lineage(steps=steps, tree=[_step(r, 160) for r in family[-MAX_TREE:]])

    def _family(self, root: str) -> list[ComicRecord]:
        """Every comic refined (at any depth) from ``root``, and ``root``, oldest first."""
        records = list(reversed(self.studio.list()))
        parents = {r.comic_id: r.parent_id for r in records}

        def first_of(comic_id: str) -> str:
            seen: set[str] = set()
            while parents.get(comic_id) and comic_id not in seen:
                seen.add(comic_id)
                comic_id = str(parents[comic_id])
            return comic_id

        return [r for r in records if first_of(r.comic_id) == root]

    def comic_file(self, scope: Scope, comic_id: str, preview: bool = False) -> bytes:
        record = self.visible_comic(scope, comic_id)
        data_dir = Path(os.path.realpath(self.settings.data_dir))
        real = Path(os.path.realpath(record.path))
        if not real.is_relative_to(data_dir):
            raise PathRefused(f"comic {comic_id} lies outside the data folder; not read")
        return preview_jpeg(str(real)) if preview else real.read_bytes()


MAX_TREE = 40  # versions of one comic shown as a tree (the newest)


def _step(record: ComicRecord, side: int) -> LineageStep:
    fields = {"comic_id", "parent_id", "user_prompt", "model", "created_at", "photos",
              "variant", "variants", "panel", "panels", "edit"}  # fmt: skip
    preview = base64.b64encode(preview_jpeg(record.path, side)).decode()
    return LineageStep(**record.model_dump(include=fields), preview_jpeg=preview)
