"""Writing to the register: progress reports and project records, each one commit.

Progress report rules (checked against the record as it stands at the parent commit; a refused
report raises ``ValidationFailed`` and commits nothing):

- the percent is a number from 0 to 100 (beyond 100% is refused);
- the report's date is not before the project's planned start, not after the day it is
  committed (Shanghai time), and not before the project's last report (correct the last figure
  with a new report instead);
- a percent lower than the last report's needs a reason (``reason``), which the record keeps.

The commit's author is the reporter, so the twin's history says who reported what and when.

Project records (``save_projects``) are checked for planned finish not before planned start,
non-negative quantity and weight, and that every entry of ``features`` ("layer/feature_id")
names a feature that exists in that layer at the parent commit.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson

from completion.register import (
    LAYER,
    NAME_FIELDS,
    Project,
    code_problem,
    codes_like_others,
    find_project,
    spelt_two_ways,
    unknown_code,
)
from twin.access import TwinView
from twin.core import HEAD, Ref, TwinLike
from twin.errors import BadInput, NotFound, Problem, ValidationFailed
from twin.model import Change, CommitInfo, Feature, StoredChange, references_by_layer
from twin.validation import fitted_message, normalize_properties

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class ProgressReport:
    """A report as a reporter hands it in."""

    code: str
    percent: float
    on: date
    note: str | None = None
    reason: str | None = None


class Reason(NamedTuple):
    """Why a report or a project record is refused: the sentence, and the field it is about (None: the
    record's as a whole), by which a spreadsheet's intake names the cell's column."""

    text: str
    field: str | None


def check_report(project: Project, report: ProgressReport, today: date) -> list[Reason]:
    """Every reason the report is refused (empty when it is accepted); ``today`` is the commit's local date."""
    reasons: list[Reason] = []
    p = report.percent
    if not isinstance(p, int | float) or isinstance(p, bool) or not math.isfinite(p):
        return [Reason(f"percent {p!r} is not a number", "percent")]
    if p < 0:
        reasons.append(Reason(f"percent {p:g} is below 0%", "percent"))
    if p > 100:
        reasons.append(Reason(f"percent {p:g} is beyond 100%", "percent"))
    if report.on < project.planned_start:
        reasons.append(
            Reason(
                f"a report dated {report.on.isoformat()} is before the project's planned start "
                f"{project.planned_start.isoformat()}",
                "date",
            )
        )
    if report.on > today:
        reasons.append(
            Reason(f"a report dated {report.on.isoformat()} is in the future (today is {today.isoformat()})", "date")
        )
    last_day = project.progress_date
    if last_day is not None and report.on == last_day < today and report.percent != project.percent_complete:
        # A day gone by keeps the figure reported for it (the sheet intake's rule too: a sheet
        # imported again finds it as recorded); today's own figure may still be put right.
        had = project.percent_complete
        reasons.append(
            Reason(
                f"the twin already records {had:g}% on {report.on.isoformat()} (this report gives {p:g}%); "
                "correct the figure with a report dated today",
                "date",
            )
        )
        return reasons
    if project.progress_date is not None and report.on < project.progress_date:
        reasons.append(
            Reason(
                f"a report dated {report.on.isoformat()} is older than the last report "
                f"({project.progress_date.isoformat()}); correct the figure with a report dated today",
                "date",
            )
        )
    last = project.percent_complete
    # Below 0% is refused as out of range alone: "lower than the last report" would be a second
    # reason for one figure, asking for a reason that would not make it good.
    if last is not None and 0 <= p < last and not (report.reason or "").strip():
        when = project.progress_date.isoformat() if project.progress_date else "?"
        # The figure and the reason column together: the row's, not one cell's.
        reasons.append(Reason(f"{p:g}% is lower than the last report ({last:g}% on {when}): give a reason", None))
    return reasons


def report_properties(project: Project, report: ProgressReport, reporter: str) -> dict[str, Any]:
    """The record's properties after the report: the latest progress replaces the previous one."""
    props = dict(project.properties)
    for k in ("progress_note", "progress_reason"):
        props.pop(k, None)
    props.update(
        percent_complete=float(report.percent),
        progress_date=report.on.isoformat(),
        progress_reporter=reporter,
    )
    if report.note and report.note.strip():
        props["progress_note"] = report.note.strip()
    if report.reason and report.reason.strip():
        props["progress_reason"] = report.reason.strip()
    return props


def _local_day(t: datetime) -> date:
    return t.astimezone(SHANGHAI).date()


class ReportsRefused(ValidationFailed):
    """A batch of reports refused: every problem, and by ``items`` the place in the batch (0-based)
    of the report each is about, for a caller that names reports by their place (a JSON list)."""

    def __init__(self, found: Sequence[tuple[int, Problem]]):
        self.items = [(i, p.reason) for i, p in found]
        super().__init__([p for _, p in found])


class _Checked(NamedTuple):
    changes: list[Change]
    found: list[tuple[int, Problem]]  # every refused report's problems, with its place in the batch
    unknown: set[int]  # the places of the reports naming no project of the register


def _checked_reports(twin: TwinLike, batch: Sequence[ProgressReport], ref: Ref, today: date, reporter: str) -> _Checked:
    """The changes a batch of reports by ``reporter`` makes, or why each refused one is."""
    found: list[tuple[int, Problem]] = []
    unknown: set[int] = set()
    changes: list[Change] = []
    seen: set[str] = set()
    codes: list[str] | None = None  # every project's code, read for the first unknown one
    for i, r in enumerate(batch):
        if r.code in seen:
            found.append((i, Problem(LAYER, r.code, "two reports for the same project in one commit")))
            continue
        seen.add(r.code)
        try:
            project = find_project(twin, r.code, ref)
        except NotFound:
            if codes is None:
                codes = [Project.from_feature(b).code for b in twin.features(LAYER, ref).features]
            found.append((i, Problem(LAYER, r.code, unknown_code(r.code, codes))))
            unknown.add(i)
            continue
        reasons = check_report(project, r, today)
        if reasons:
            found.extend((i, Problem(LAYER, project.fid, why.text)) for why in reasons)
            continue
        props = report_properties(project, r, reporter)
        changes.append(Change(LAYER, "modify", project.fid, Feature(project.fid, None, props)))
    return _Checked(changes, found, unknown)


def check_progress(
    twin: TwinLike,
    reports: Sequence[ProgressReport],
    *,
    parent: str | None = HEAD,
    time: datetime | None = None,
) -> list[tuple[int, str]]:
    """Why each of these reports would be refused, by its place in the list (0-based), as
    report_progress would refuse them; nothing is written (a caller with other bad items of its
    own names them all at once)."""
    ref = twin.resolve(None if parent in (None, HEAD) else parent)
    checked = _checked_reports(twin, reports, ref, _local_day(time or datetime.now(UTC)), "")
    return [(i, p.reason) for i, p in checked.found]


def report_progress(
    twin: TwinLike,
    reports: ProgressReport | Sequence[ProgressReport],
    *,
    reporter: str,
    message: str | None = None,
    parent: str | None = HEAD,
    time: datetime | None = None,
    uploaded_by: str | None = None,
) -> CommitInfo:
    """Commit one report (or several, for different projects, in one commit) by ``reporter``
    (``uploaded_by``: who sent them, over HTTP, named in the default message).

    All or nothing: if any report breaks a rule, ReportsRefused (a ValidationFailed) lists every
    problem and the twin is unchanged. ``parent`` makes the write conditional as for any commit.
    """
    batch = [reports] if isinstance(reports, ProgressReport) else list(reports)
    if not batch:
        raise BadInput("no progress report given")
    if not reporter.strip():
        raise BadInput("a progress report needs a reporter")
    ref = twin.resolve(None if parent in (None, HEAD) else parent)
    base = ref.commit.id if ref.commit else None
    when = time or datetime.now(UTC)
    today = _local_day(when)
    changes, found, unknown = _checked_reports(twin, batch, ref, today, reporter)
    if found:
        if len(batch) == 1 and unknown:
            raise NotFound(found[0][1].reason)
        raise ReportsRefused(found)
    if message is None:
        parts = [
            f"{r.code} {r.percent:g}%" + (f" ({r.note.strip()})" if r.note and r.note.strip() else "") for r in batch
        ]
        message = f"Progress reported on {batch[0].on.isoformat()}: " + "; ".join(parts)
        if uploaded_by:
            message += f" (uploaded by {uploaded_by})"
        # Notes may be far longer than a message may be (and one refused for its characters is
        # refused as the record's progress_note, by the layer's validation, not as the message).
        message = fitted_message(message)
    return twin.commit(changes, author=reporter, message=message, parent=base, time=time)


# ---------------------------------------------------------------------------- project records
def check_project(
    twin: TwinLike,
    props: Mapping[str, Any],
    seq: int,
    known: Mapping[str, set[str]] | None = None,
    kept: Collection[str] = (),
) -> list[Reason]:
    """Reasons a project record (already type-checked) is refused, beyond the layer's own rules.

    ``known``: the ids that exist at ``seq`` in each layer the record's ``features`` name, when the
    caller has read them for many records at once (``venue_features``). ``kept``: the references
    the record had before this write (see feature_ref_problems)."""
    reasons: list[Reason] = []
    start, finish = props.get("planned_start"), props.get("planned_finish")
    if isinstance(start, str) and isinstance(finish, str) and finish < start:
        reasons.append(Reason(f"planned finish {finish} is before planned start {start}", "planned_finish"))
    q = props.get("quantity")
    if isinstance(q, float) and q < 0:
        reasons.append(Reason(f"quantity {q:g} is negative", "quantity"))
    w = props.get("weight")
    if isinstance(w, float) and w < 0:
        reasons.append(Reason(f"weight {w:g} is negative", "weight"))
    pct = props.get("percent_complete")
    if isinstance(pct, float) and not 0 <= pct <= 100:
        reasons.append(Reason(f"percent_complete {pct:g} is not between 0 and 100", "percent_complete"))
    refs = props.get("features") or []
    reasons.extend(Reason(why, "features") for why in check_feature_refs(twin, refs, seq, known, kept))
    return reasons


def _spatial_layers(twin: TwinLike) -> set[str]:
    return {s.name for s in twin.layers() if s.spatial}


def venue_features(twin: TwinLike, refs: Iterable[str], seq: int) -> dict[str, set[str]]:
    """The ids among ``refs`` ("layer/feature_id") that exist at ``seq``, by layer: one read per
    layer for a whole commit's records instead of one per record."""
    spatial = _spatial_layers(twin)
    at = twin.at_seq(seq)
    return {
        layer: set(twin.features_by_id(layer, sorted(ids), at))
        for layer, ids in references_by_layer(refs).items()
        if layer in spatial
    }


def check_feature_refs(
    twin: TwinLike,
    refs: Sequence[str],
    seq: int,
    known: Mapping[str, set[str]] | None = None,
    kept: Collection[str] = (),
) -> list[str]:
    """Each "layer/feature_id" must name an existing feature of a spatial layer as of commit ``seq``."""
    return list(feature_ref_problems(twin, refs, seq, known, kept).values())


def feature_ref_problems(
    twin: TwinLike,
    refs: Sequence[str],
    seq: int,
    known: Mapping[str, set[str]] | None = None,
    kept: Collection[str] = (),
) -> dict[str, str]:
    """Each bad "layer/feature_id" reference → why. ``known`` (from venue_features) is the ids that
    exist, read once per layer for a whole commit's records; without it they are read here.

    The layers are those ``twin`` shows: through a TwinView, a layer hidden from its role is no
    layer, said as of one that does not exist (whether a feature is there would tell what it
    hides). One exception: a reference in ``kept`` (the record had it before this write, as the
    writer reads the record) into a layer hidden from them is left as it is, not judged: it is
    someone else's, and refusing it would stop them writing the rest of the record (a report)."""
    if not refs:
        return {}
    if known is None:
        known = venue_features(twin, refs, seq)
    reasons: dict[str, str] = {}
    wanted: dict[str, list[str]] = {}
    schemas = {s.name: s for s in twin.layers()}
    for ref in refs:
        layer, sep, fid = ref.partition("/")
        if not sep or not layer or not fid:
            reasons[ref] = f"feature reference {ref!r} is not layer/feature_id"
        elif ref in kept and isinstance(twin, TwinView) and twin.hides(layer):
            continue
        elif layer not in schemas or not schemas[layer].spatial:
            reasons[ref] = f"feature reference {ref!r}: no venue layer {layer!r}"
        else:
            wanted.setdefault(layer, []).append(fid)
    for layer, ids in wanted.items():
        found = known.get(layer, set())
        reasons.update(
            {f"{layer}/{fid}": f"feature reference {layer}/{fid!s}: no such feature" for fid in ids if fid not in found}
        )
    return reasons


def save_projects(
    twin: TwinLike,
    records: Sequence[Mapping[str, Any]],
    *,
    author: str,
    message: str,
    parent: str | None = HEAD,
    time: datetime | None = None,
) -> CommitInfo:
    """Add project records, or update them, as one commit after checking them.

    A record whose code is already in the register updates the fields it names and keeps the
    others (the progress fields included: a new deadline does not erase the last report); a
    field given as None is removed. A new code is a new record whose feature id is the code.
    """
    ref = twin.resolve(None if parent in (None, HEAD) else parent)
    base = ref.commit.id if ref.commit else None
    schema = twin.layer(LAYER)
    problems: list[Problem] = []
    changes: list[Change] = []
    for rec in records:
        code = str(rec.get("code") or "")
        if not code:
            problems.append(Problem(LAYER, None, "a project record has no code"))
            continue
        fid, merged = code, dict(rec)
        had: tuple[str, ...] = ()
        if ref.commit is not None:
            try:
                old = find_project(twin, code, ref)
                fid, merged, had = old.fid, {**old.properties, **rec}, old.features
            except NotFound:
                pass
        merged = {k: v for k, v in merged.items() if v is not None}
        props, reasons = normalize_properties(schema, merged)
        if not reasons:
            reasons = [why.text for why in check_project(twin, props, ref.seq, kept=had)]
        problems.extend(Problem(LAYER, code, why) for why in reasons)
        changes.append(Change(LAYER, "upsert", fid, Feature(fid, None, merged)))
    if problems:
        raise ValidationFailed(problems)
    return twin.commit(changes, author=author, message=message, parent=base, time=time)


def project_rule(
    twin: TwinLike, changes: Sequence[StoredChange], parent_seq: int, when: datetime, author: str
) -> list[Problem]:
    """The register's rules on every write path (generic API edits, imports and change files too).

    A record must be a sound project (dates in order, existing features); and when its progress
    moves, the move must be a valid report against the record as it stood: not before the planned
    start, not in the future, not older than the last report, no second figure for a day gone by,
    not beyond 100%, and not lower than the last figure without a reason; and it names its reporter
    (a generic edit of the figure alone would credit the last report's reporter with it).
    """
    today = _local_day(when)
    problems: list[Problem] = []
    live = [ch for ch in changes if ch.version is not None]
    # Read once for the whole commit (a batch of reports or an imported register), not per record.
    befores = twin.features_by_id(LAYER, [ch.feature_id for ch in live], twin.at_seq(parent_seq))
    named: list[tuple[str, StoredChange, dict[str, Any]]] = []  # units and persons given anew
    coded: list[tuple[str, StoredChange, str]] = []  # codes given anew
    refs = [r for ch in live for r in (ch.version.properties.get("features") or []) if isinstance(r, str)]  # type: ignore[union-attr]
    known = venue_features(twin, refs, parent_seq)
    for ch in live:
        assert ch.version is not None
        props = ch.version.properties
        before = befores.get(ch.feature_id)
        reasons = [why.text for why in check_project(twin, props, parent_seq, known, _references(before))]
        try:
            new = Project.from_properties(props)
        except (ValueError, KeyError) as e:
            problems.append(Problem(LAYER, ch.feature_id, str(e)))
            continue
        old = Project.from_feature(before) if before is not None else None
        if old is None or old.code != new.code:  # a code from before is still read and reported on
            why = code_problem(new.code)
            if why is not None:
                reasons.append(why)
            coded.append((f"project {new.code} (this commit)", ch, new.code))
        given = {f: props.get(f) for f in NAME_FIELDS if old is None or old.properties.get(f) != props.get(f)}
        if given:
            named.append((f"project {new.code} (this commit)", ch, given))
        moved = (new.percent_complete, new.progress_date) != (
            (old.percent_complete, old.progress_date) if old else (None, None)
        )
        if new.percent_complete is not None and moved:
            if new.progress_date is None:
                reasons.append("a percent complete needs the date it describes (progress_date)")
            else:
                as_was = replace(
                    new,
                    percent_complete=old.percent_complete if old else None,
                    progress_date=old.progress_date if old else None,
                )
                report = ProgressReport(new.code, new.percent_complete, new.progress_date, new.progress_note,
                                        new.progress_reason)  # fmt: skip
                reasons.extend(why.text for why in check_report(as_was, report, today))
                # A figure moved under the last report's reporter by someone else would be credited
                # to them (a generic edit of percent_complete alone): the report must name its own.
                # A reporter named anew is the writer's word, as a report sheet's 填报人 is.
                last = old.progress_reporter if old else None
                if last is not None and new.progress_reporter == last and last.strip() != author.strip():
                    reasons.append(
                        f"progress_reporter still names the last report's reporter ({last!r}), and this commit "
                        f"is {author!r}'s: name this report's reporter (POST /projects/{new.code}/progress or "
                        "`venue-twin progress report` reports as you; a report sheet names each row's)"
                    )
        problems.extend(Problem(LAYER, ch.feature_id, why) for why in reasons)
    if named or coded:
        problems.extend(_lookalike_problems(twin, parent_seq, {ch.feature_id for ch in live}, named, coded))
    return problems


def _references(record: bytes | None) -> list[str]:
    """The venue references a stored project record gives (none for a new one)."""
    if record is None:
        return []
    refs = (orjson.loads(record).get("properties") or {}).get("features") or []
    return [r for r in refs if isinstance(r, str)]


def _lookalike_problems(
    twin: TwinLike,
    parent_seq: int,
    changed: set[str],
    named: Sequence[tuple[str, StoredChange, dict[str, Any]]],
    coded: Sequence[tuple[str, StoredChange, str]],
) -> list[Problem]:
    """A unit or person spelt otherwise than the register writes it, a new code like another
    (completion.register's rules): read the register's other records once, only when a commit
    gives a code, unit or person anew (never for a report)."""
    ref = twin.at_seq(parent_seq)
    others = []
    if ref.commit is not None:
        for raw in twin.features(LAYER, ref).features:
            d = orjson.loads(raw)
            if str(d["id"]) not in changed:
                others.append(d["properties"])
    spelt = spelt_two_ways([(w, g) for w, _, g in named], others)
    codes = {p.get("code") for p in others}
    new = [(w, ch, c) for w, ch, c in coded if c not in codes]  # a code taken is the codes' check
    like = codes_like_others([(w, c) for w, _, c in new], [c for c in codes if isinstance(c, str)])
    return [Problem(LAYER, named[i][1].feature_id, why) for i, why in spelt] + [
        Problem(LAYER, new[i][1].feature_id, why) for i, why in like
    ]
