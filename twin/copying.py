"""Copy a whole twin from one store to another: `venue-twin copy SRC DST`.

Every commit is replayed at the store level (`changes_in` then `apply`), so ids, times, authors,
messages, feature versions and schema versions (layers made by a commit, schema changes) arrive
exactly as they were; the layers from before the first commit and the area of interest are the
destination's `initialize`; the API tokens (server state, not history) follow. Works between any
two stores, through the Store interface only. The survey files the history records (kept outside
the store) are brought to where the destination's processes look for them, each checked by its
recorded size and SHA-256 (twin.surveys.copy_survey_files); a database's survey directory that is
not set is refused before anything is copied, and a file that cannot be brought is said in
`CopyResult.surveys`, for the command to print.

Atomic from a reader's point of view: a file destination is written to a hidden temporary file
beside it and renamed over it at the end, so an interrupted copy leaves no file at the
destination; a database destination gets every commit and token in one write transaction
(`Store.writing`), so an interrupted copy leaves it without commits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from twin.core import Twin
from twin.encoding import stored_commit_id
from twin.errors import BadInput, Corrupt, NotFound, TwinError
from twin.model import CommitInfo, StoredChange
from twin.settings import SettingsError
from twin.stores import gpkg_path, shown
from twin.surveys import SurveyFilesCopied, copy_survey_files, recorded_survey_files, survey_copy_problem

# Called once with (commits, changes) in all, then after each commit with (1, its changes).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CopyResult:
    commits: int
    changes: int
    tokens: int
    head: str | None
    surveys: SurveyFilesCopied | None = None


def copy_twin(
    src: str | Path,
    dst: str | Path,
    *,
    force: bool = False,
    start: Progress | None = None,
    advance: Progress | None = None,
) -> CopyResult:
    """Copy the twin at `src` to `dst` (store URLs or paths). Refuses a destination that holds
    anything unless `force` (a file only: it is replaced when the copy is whole)."""
    path, src_path = gpkg_path(dst), gpkg_path(src)
    if path is not None and src_path is not None and path.resolve() == src_path.resolve():
        raise BadInput("the source and the destination are the same file")
    with Twin.open(src) as source:
        # Said before anything is written: a database's survey directory (the source's or the
        # destination's) not set was found after the whole copy, which then exited 2 with the twin copied.
        recorded = recorded_survey_files(source)  # read once: asked about before, brought after
        problem = survey_copy_problem(source, recorded, None if path is not None else str(dst))
        if problem:
            raise SettingsError(problem)
        if path is not None:
            result = _to_file(source, path, force, start, advance)
        else:
            result = _to_database(source, str(dst), force, start, advance)
        with Twin.open(dst) as target:
            surveys = copy_survey_files(source, target, recorded)  # the survey rasters the history names
        return dataclasses.replace(result, surveys=surveys)


def _to_file(source: Twin, path: Path, force: bool, start: Progress | None, advance: Progress | None) -> CopyResult:
    if path.exists() and path.stat().st_size > 0 and not force:
        raise BadInput(f"{path} exists and is not empty; give --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, and named so nobody takes it for a twin; renamed over the destination when whole.
    tmp = path.with_name(f".{path.name}.copy-{uuid.uuid4().hex[:8]}.part")
    try:
        target = Twin.create(tmp, list(source.store.schemas_at(0).values()), source.area_of_interest)
        try:
            result = _replay(source, target, start, advance)
        finally:
            target.close()  # the last connection's close folds the WAL into the file
        for suffix in ("-wal", "-shm"):  # a replaced twin's WAL must not be applied to the copy
            with contextlib.suppress(FileNotFoundError):
                path.with_name(path.name + suffix).unlink()
        os.replace(tmp, path)
        # Styles and the QGIS project name the file they are in: written under its final name.
        with Twin.open(path) as copied:
            copied.refresh_presentation()
            copied.flush()
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return result


def _to_database(source: Twin, url: str, force: bool, start: Progress | None, advance: Progress | None) -> CopyResult:
    try:
        existing = Twin.open(url)
    except NotFound:
        existing = None
    if existing is not None:
        with existing:
            if existing.commit_count() or existing.tokens.list():
                raise BadInput(
                    f"{shown(url)} already holds a twin"
                    + ("; --force replaces files only: drop the database's twin first" if force else "")
                )
        # An empty twin (an interrupted copy's leftover, say) cannot be initialised again either.
        raise BadInput(f"{shown(url)} holds an empty twin; drop it first, then copy")
    target = Twin.create(url, list(source.store.schemas_at(0).values()), source.area_of_interest)
    try:
        # One transaction: readers see no commit until all are in; indexes are built at the end.
        with target.store.writing(), target.store.bulk_load():
            return _replay(source, target, start, advance)
    finally:
        target.close()


def _replay(source: Twin, target: Twin, start: Progress | None, advance: Progress | None) -> CopyResult:
    src, dst = source.store, target.store
    n = src.commit_count()  # commits after these (a live source) are not copied: history is append-only
    total = sum(sum(sum(per.values()) for per in c.counts.values()) for c in src.log(n)) if n else 0
    if start:
        start(n, total)
    changes = 0
    last: str | None = None

    def read(seq: int) -> tuple[CommitInfo, list[StoredChange]]:
        info = src.commit_by_seq(seq)
        chs = src.changes_in(seq)
        # The id is the content's hash: checked here, so a damaged source is not copied silently.
        if stored_commit_id(info.parent, info.author, info.message, info.time, chs) != info.id:
            raise Corrupt(f"commit {info.id[:12]} (#{seq}) of the source does not match its content; run fsck")
        return info, chs

    # The next commit is read (decoded and its id checked) while this one is written: a database
    # destination spends its time in the server, so the two overlap.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-read") as reader:
        ahead: Future[tuple[CommitInfo, list[StoredChange]]] | None = reader.submit(read, 1) if n else None
        for seq in range(1, n + 1):
            assert ahead is not None
            info, chs = ahead.result()
            ahead = reader.submit(read, seq + 1) if seq < n else None
            dst.apply(info, chs)
            last = info.id
            changes += len(chs)
            if advance:
                advance(1, len(chs))
    rows = src.token_export()
    for _id, name, role, token_hash, created, revoked in rows:
        new = dst.token_add(name, role, token_hash, created)
        if revoked is not None:
            dst.token_revoke(str(new), revoked)
    head = dst.head()
    if (head.id if head else None) != last:
        raise TwinError("the copy's head differs from the source's")  # apply would have refused first
    return CopyResult(n, changes, len(rows), head.id if head else None)
