"""Hardware-project completion over HTTP: the register, progress reports, status, roll-ups and S-curves.

One route method per endpoint; every read takes ``date`` (YYYY-MM-DD or a checkpoint such as
T-30) and/or ``version`` (a commit), as ``completion.Completion.at`` reads them, and answers JSON
or, with ``f=csv`` (or ``Accept: text/csv``), CSV, and the tables (/projects, /completion and its
late, units and missing lists) with ``f=xlsx`` Excel; ``/brief`` answers the same snapshot as one
A3 page to print (PDF, or PNG with ``f=png``; two A4 pages with ``paper=a4``; drawn by web.brief). Reporting progress needs an
editor's token; the token's name is the reporter and the commit's author.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from enum import Enum
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from api.auth import with_token
from api.deps import (
    XLSX,
    EditorDep,
    ReaderDep,
    StrictQueryRoute,
    TwinDep,
    add_get_route,
    add_page_route,
    check_form,
    collection_of,
    negotiate,
    project_path,
    public_url,
    resolve_version,
)
from api.errors import InvalidParameter, UnsupportedMediaType
from api.features import item_path
from api.maps import LangQ
from api.maps import _lang as page_lang
from api.renders import BRIEF_RENDERS
from completion.accountability import (
    MISSING_COLUMNS,
    UNIT_COLUMNS,
    UNIT_GROUPINGS,
    codes_by_unit,
    missing_reports,
    unit_row,
    unit_table,
)
from completion.evidence import Evidence, flag_messages, late_and_flagged, snapshot_flag_messages, snapshot_flags
from completion.intake import first_data, table_bytes
from completion.register import LAYER
from completion.reports import ProgressReport, report_progress
from completion.rollup import GROUPINGS
from completion.settings import CompletionSettings
from completion.snapshot import (
    GROUP_COLUMNS,
    LATE_COLUMNS,
    PROJECT_COLUMNS,
    PROJECT_DATE_COLUMNS,
    Completion,
    Snapshot,
    back_schedule,
    curve_rows,
    filter_statuses,
    group_row,
    late_row,
    not_after_today,
    parse_day,
    project_row,
    snapshot_meta,
    status_doc,
    today_local,
)
from completion.status import STATUSES, ProjectStatus
from twin.access import TwinView
from twin.core import SHANGHAI
from twin.errors import BadInput, NotFound

JSON = "application/json"
CSV = "text/csv; charset=utf-8"
REPORT_COLUMNS = ("code", "date", "percent", "reporter", "note", "reason", "commit", "time")
REPORT_KEYS = {"percent", "date", "note", "reason", "parent"}
# A report's body as the API definition (/api) declares it (_parse_report reads it).
REPORT_BODY: dict[str, Any] = {
    "required": True,
    "description": "One progress report of the project",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["percent"],
                "additionalProperties": False,
                "properties": {
                    "percent": {"type": "number", "minimum": 0, "maximum": 100},
                    "date": {"type": "string", "format": "date", "description": "YYYY-MM-DD (default: today)"},
                    "note": {"type": "string"},
                    "reason": {"type": "string", "description": "Why the project is late, if it is"},
                    "parent": {"type": "string", "description": "The version the report was made against"},
                },
            }
        }
    },
}

DateQ = Annotated[
    str | None,
    Query(description="The date to evaluate, YYYY-MM-DD or a checkpoint such as T-30 (default: today, Shanghai)."),
]
VersionQ = Annotated[str | None, Query(description="Read the twin at this commit (id, HEAD or HEAD~n).")]
FormatQ = Annotated[str | None, Query(description="json (default) or csv")]
# the lists that also download as Excel
TableFormatQ = Annotated[str | None, Query(description="json (default), csv or xlsx (Excel)")]
# the language of an Excel download's title and headings, as the pages choose theirs
ExcelLangQ = Annotated[
    str | None, Query(description="zh or en: the Excel download's language (default: Accept-Language, else zh)")
]


def _format(request: Request, f: str | None, xlsx: bool = False, html: bool = False) -> str:
    """The format asked for by ``f`` or the Accept header (api.deps.negotiate, as every route
    chooses it), of those the route gives: json and csv, and xlsx and html where it says so (an
    unknown f is refused naming them all)."""
    return negotiate(request, f, ("json", "csv", *(("xlsx",) if xlsx else ()), *(("html",) if html else ())))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def _csv(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    filename: str,
    headers: dict[str, str],
    fmt: str = "csv",
    dates: Sequence[str] = (),
) -> Response:
    """A download as CSV (UTF-8 with a BOM, so Excel reads Chinese text) or, with fmt="xlsx", Excel
    (the ``dates`` columns' ISO text as Excel dates)."""
    sheet = filename.removesuffix(".csv")[:31]  # the sheet is named as the file, without its suffix
    if fmt == "xlsx":
        filename = filename.removesuffix(".csv") + ".xlsx"
    return Response(
        table_bytes(rows, columns, fmt, sheet=sheet, dates=dates),
        media_type=XLSX if fmt == "xlsx" else CSV,
        headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _excel(body: bytes, filename: str, headers: dict[str, str]) -> Response:
    """A list as its page shows it, for Excel (web.excel), to download."""
    return Response(
        body, media_type=XLSX, headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _headers(snap: Snapshot) -> dict[str, str]:
    return {"X-Twin-Version": snap.version or ""}


class CompletionFactory:
    """The completion endpoints; mounted by api.main.create_app."""

    def __init__(self, settings: CompletionSettings | None = None) -> None:
        self.settings = settings or CompletionSettings()
        self.router = APIRouter(route_class=StrictQueryRoute)
        r = self.router
        tags: list[str | Enum] = ["Completion"]
        add_get_route(r, "/projects", self.projects, summary="The hardware projects and their status", tags=tags)
        add_page_route(r, "/projects/{code}", self.project, summary="One project, its status and plan", tags=tags)
        add_get_route(
            r,
            "/projects/{code}/progress",
            self.progress,
            summary="A project's progress reports",
            tags=tags,
        )
        r.add_api_route(
            "/projects/{code}/progress",
            self.report,
            methods=["POST"],
            summary="Report progress (a commit)",
            tags=tags,
            status_code=201,
            openapi_extra=with_token(REPORT_BODY),
        )
        add_get_route(
            r,
            "/completion",
            self.completion,
            summary="Weighted completion and status counts by area, unit or category",
            tags=tags,
        )
        add_get_route(
            r,
            "/completion/checkpoints",
            self.checkpoints,
            summary="The back-scheduled checkpoints and each project's planned percent at them",
            tags=tags,
        )
        add_get_route(r, "/completion/scurve", self.scurve, summary="Planned against actual S-curve", tags=tags)
        add_get_route(r, "/completion/late", self.late, summary="The late projects, most days late first", tags=tags)
        add_page_route(
            r,
            "/completion/units",
            self.units,
            summary="Per responsible unit (or person): overdue reports, late projects and completion",
            tags=tags,
        )
        add_get_route(
            r, "/completion/missing", self.missing, summary="The reports missing since the last checkpoint", tags=tags
        )
        add_page_route(
            r,
            "/brief",
            self.brief,
            summary="A briefing to print: one A3 landscape page (PDF or PNG), or two A4 portrait pages "
            "(paper=a4, PDF), of the completion on a date",
            tags=tags,
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}, "image/png": {}}}},
        )

    # ------------------------------------------------------------------ helpers
    def _snapshot(self, twin: TwinView, who: Any, on: str | None, version: str | None) -> tuple[Completion, Snapshot]:
        collection_of(twin, LAYER)
        return completion_at(twin, self.settings, on, version)

    # ------------------------------------------------------------------ routes
    def projects(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        area: Annotated[str | None, Query(description="Only this area.")] = None,
        unit: Annotated[str | None, Query(description="Only this responsible unit.")] = None,
        category: Annotated[str | None, Query(description="Only this category.")] = None,
        status: Annotated[str | None, Query(description="Only this status.")] = None,
        f: TableFormatQ = None,
    ) -> Response:
        fmt = _format(request, f, xlsx=True)
        if status is not None and status not in STATUSES:
            raise InvalidParameter.not_one_of("status", status, STATUSES, subject="status ")
        _, snap = self._snapshot(twin, who, date, version)
        chosen = filter_statuses(snap.statuses, area=area, unit=unit, category=category, status=status)
        states = snap.report_states()
        flags = snapshot_flag_messages(twin, snap, version)
        if fmt != "json":
            return _csv(
                (
                    project_row(s, snap.weights.get(s.project.code), states[s.project.code], flags.get(s.project.code))
                    for s in chosen
                ),
                PROJECT_COLUMNS,
                f"projects-{snap.on.isoformat()}.csv",
                _headers(snap),
                fmt,
                PROJECT_DATE_COLUMNS,
            )
        items = [
            status_doc(s, snap.weights.get(s.project.code), states[s.project.code], flags.get(s.project.code))
            for s in chosen
        ]
        for item in items:
            item["links"] = [{"rel": "self", "type": JSON, "href": public_url(request, project_path(item["code"]))}]
        doc = {**snapshot_meta(snap), "projects": items, "numberReturned": len(items)}
        return _json(doc, headers=_headers(snap))

    def project(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        code: Annotated[str, Path(description="The project code, e.g. RD-03.")],
        date: DateQ = None,
        version: VersionQ = None,
        f: Annotated[str | None, Query(description="json (default) or html (a page to read and print)")] = None,
        lang: LangQ = None,
    ) -> Response:
        if negotiate(request, f, ("json", "html")) == "json":
            _, snap = self._snapshot(twin, who, date, version)
            doc, _, _ = self._project_doc(request, twin, snap, code, version)
            return _json(doc, headers=_headers(snap))
        language = page_lang(request, lang)
        landing = None
        if date is None and version is None:
            # as the units page: the date the completion map opens on (JSON keeps today)
            from completion.landing import landing_date

            landing = landing_date(twin)
            date = landing.on.isoformat()
        # the same snapshot, read rule and visibility as the JSON: an error here is the JSON's error
        _, snap = self._snapshot(twin, who, date, version)
        from web.project_page import not_found_page, project_page

        try:
            doc, status, flag = self._project_doc(request, twin, snap, code, version)
        except NotFound as e:  # an unknown code: the JSON's 404, as a page in the reader's language
            try:  # a code registered after the page's date is not unknown: when it was
                first = twin.history(LAYER, code)[0].commit.time.astimezone(SHANGHAI).date()
            except NotFound:
                first = None
            return HTMLResponse(
                not_found_page(partial(public_url, request), language, code, snap, e, first),
                status_code=404,
                headers=_headers(snap),
            )
        body = project_page(
            partial(public_url, request),
            language,
            doc,
            status,
            flag,
            schema=collection_of(twin, LAYER),
            version=version,
            landing=landing if landing is not None and landing.moved else None,
        )
        return HTMLResponse(body, headers=_headers(snap))

    def _project_doc(
        self, request: Request, twin: TwinView, snap: Snapshot, code: str, version: str | None
    ) -> tuple[dict[str, Any], ProjectStatus, Evidence | None]:
        """GET /projects/{code}'s document, with the status and imagery evidence it was made from
        (the page words them from these: no second computation)."""
        s = snap.status(code)
        cps, rows = back_schedule(snap)
        planned = next(p for st, p in rows if st.project.code == code)
        evidence = snapshot_flags(twin, snap, version)
        doc = {
            **snapshot_meta(snap),
            "project": status_doc(
                s,
                snap.weights.get(code),
                snap.report_states()[code],
                flag_messages(evidence).get(code),
            ),
            "checkpoints": [
                {"checkpoint": c.label, "date": c.on.isoformat(), "planned_percent": round(v, 2)}
                for c, v in zip(cps, planned, strict=True)
            ],
            "reports": [r.to_dict() for r in snap.reports[code] if r.on <= snap.on],
            "links": [
                {"rel": "progress", "type": JSON, "href": public_url(request, project_path(code, "progress"))},
                {"rel": "evidence", "type": JSON, "href": public_url(request, project_path(code, "evidence"))},
                {
                    "rel": "history",
                    "type": JSON,
                    "href": public_url(request, item_path(LAYER, code) + "/history"),
                },
            ],
        }
        return doc, s, evidence.get(code)

    def progress(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        code: Annotated[str, Path(description="The project code.")],
        date: DateQ = None,
        version: VersionQ = None,
        f: FormatQ = None,
    ) -> Response:
        fmt = _format(request, f)
        _, snap = self._snapshot(twin, who, date, version)
        snap.status(code)  # 404 for a project not in the register then
        reports = [r for r in snap.reports[code] if r.on <= snap.on]
        if fmt == "csv":
            return _csv(
                ({"code": code, **r.to_dict()} for r in reports),
                REPORT_COLUMNS,
                f"progress-{code}-{snap.on.isoformat()}.csv",
                _headers(snap),
            )
        doc = {**snapshot_meta(snap), "code": code, "reports": [r.to_dict() for r in reports]}
        return _json(doc, headers=_headers(snap))

    async def report(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        code: Annotated[str, Path(description="The project code.")],
    ) -> Response:
        await run_in_threadpool(collection_of, twin, LAYER)  # a store read: off the event loop
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise UnsupportedMediaType(f"send application/json (got {ctype or 'no content type'})")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as e:
            raise BadInput(f"the body is not JSON: {e}") from None
        report, parent = _parse_report(code, body)

        def commit() -> tuple[Any, Snapshot]:  # store work, off the event loop
            made = report_progress(twin, report, reporter=who.name, parent=parent)
            return made, Completion(twin, self.settings).at(report.on, made.id)

        info, snap = await run_in_threadpool(commit)
        made = next(r for r in reversed(snap.reports[code]) if r.commit == info.id)
        loc = public_url(request, project_path(code, "progress"))
        doc = {
            "report": made.to_dict(),
            "commit": info.to_dict(),
            "project": status_doc(snap.status(code), snap.weights.get(code), snap.report_states()[code]),
        }
        return _json(doc, status=201, headers={"Location": loc, "X-Twin-Commit": info.id})

    def completion(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        by: Annotated[str, Query(description="area, unit or category")] = "area",
        f: TableFormatQ = None,
    ) -> Response:
        fmt = _format(request, f, xlsx=True)
        if by not in GROUPINGS:
            raise InvalidParameter.not_one_of("by", by, GROUPINGS)
        _, snap = self._snapshot(twin, who, date, version)
        # Made once per snapshot (which never changes) and imagery flags: those are read from the
        # surveys at the head, so a survey imported or a file gone changes them for the same snapshot.
        flags = snapshot_flag_messages(twin, snap, version)
        memo = ("completion", by, tuple(sorted(flags.items())))
        if fmt == "json" and memo in snap.memo:
            return Response(snap.memo[memo], media_type=JSON, headers=_headers(snap))
        groups, overall = snap.groups(by), snap.overall()
        if fmt != "json":
            return _csv(
                (group_row(g) for g in [*groups, overall]),
                GROUP_COLUMNS,
                f"completion-{snap.on.isoformat()}-{by}.csv",
                _headers(snap),
                fmt,
            )
        doc = {
            **snapshot_meta(snap),
            "by": by,
            "overall": overall.to_dict(),
            "groups": [g.to_dict() for g in groups],
            "late": [
                late_row(s, snap.report_states()[s.project.code], flags.get(s.project.code))
                for s in late_and_flagged(snap, flags)
            ],
            "thresholds": {"at_risk_days": self.settings.at_risk_days, "behind_days": self.settings.behind_days},
        }
        body = snap.memo[memo] = orjson.dumps(doc)
        return Response(body, media_type=JSON, headers=_headers(snap))

    def checkpoints(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        f: FormatQ = None,
    ) -> Response:
        fmt = _format(request, f)
        _, snap = self._snapshot(twin, who, date, version)
        cps, rows = back_schedule(snap)
        labels = [c.label for c in cps]
        if fmt == "csv":
            cols = ("code", "name_en", "area", "responsible_unit", "planned_start", "planned_finish", "curve", *labels)
            out = []
            for s, planned in rows:
                p = s.project
                row: dict[str, Any] = {
                    "code": p.code,
                    "name_en": p.name_en,
                    "area": p.area,
                    "responsible_unit": p.responsible_unit,
                    "planned_start": p.planned_start.isoformat(),
                    "planned_finish": p.planned_finish.isoformat(),
                    "curve": p.curve,
                }
                row.update({lab: round(v, 2) for lab, v in zip(labels, planned, strict=True)})
                out.append(row)
            return _csv(out, cols, f"checkpoints-{snap.opening.year}.csv", _headers(snap))
        overall = snap.overall()
        total = sum(snap.weights.values()) or 1.0
        planned_overall = [
            sum(snap.weights.get(s.project.code, 0.0) * planned[i] for s, planned in rows) / total
            for i in range(len(cps))
        ]
        doc = {
            **snapshot_meta(snap),
            "every_days": self.settings.checkpoint_days,
            "checkpoints": [
                {
                    "checkpoint": c.label,
                    "date": c.on.isoformat(),
                    "planned_percent": round(planned_overall[i], 2),
                }
                for i, c in enumerate(cps)
            ],
            "projects": [
                {
                    "code": s.project.code,
                    "planned_start": s.project.planned_start.isoformat(),
                    "planned_finish": s.project.planned_finish.isoformat(),
                    "curve": s.project.curve,
                    "planned_percent": {lab: round(v, 2) for lab, v in zip(labels, planned, strict=True)},
                }
                for s, planned in rows
            ],
            "overall": overall.to_dict(),
        }
        return _json(doc, headers=_headers(snap))

    def scurve(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        by: Annotated[str | None, Query(description="Also per area, unit or category.")] = None,
        f: FormatQ = None,
    ) -> Response:
        fmt = _format(request, f)
        if by is not None and by not in GROUPINGS:
            raise InvalidParameter.not_one_of("by", by, GROUPINGS)
        comp, snap = self._snapshot(twin, who, date, version)
        series = comp.scurve(snap, by)
        rows = curve_rows(series, by)
        if fmt == "csv":
            cols = ("by", "key", "checkpoint", "date", "planned_percent", "actual_percent")
            return _csv(rows, cols, f"scurve-{snap.on.isoformat()}{'-' + by if by else ''}.csv", _headers(snap))
        doc = {
            **snapshot_meta(snap),
            "by": by or "overall",
            "series": {
                k: [{kk: v for kk, v in r.items() if kk not in ("by", "key")} for r in rows if r["key"] == k]
                for k in series
            },
        }
        return _json(doc, headers=_headers(snap))

    def late(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        f: TableFormatQ = None,
        lang: ExcelLangQ = None,
    ) -> Response:
        fmt = _format(request, f, xlsx=True)
        _, snap = self._snapshot(twin, who, date, version)
        evidence = snapshot_flags(twin, snap, version)
        flags = flag_messages(evidence)
        late, states = late_and_flagged(snap, flags), snap.report_states()
        rows = [late_row(s, states[s.project.code], flags.get(s.project.code)) for s in late]
        if fmt == "xlsx":
            from web.excel import late_list_workbook

            # the imagery's flags worded in the sheet's language, as the pages word them
            body = late_list_workbook(page_lang(request, lang), snapshot_meta(snap), rows, evidence)
            return _excel(body, f"late-{snap.on.isoformat()}.xlsx", _headers(snap))
        if fmt != "json":
            return _csv(rows, LATE_COLUMNS, f"late-{snap.on.isoformat()}.csv", _headers(snap))
        doc = {**snapshot_meta(snap), "late": rows, "numberReturned": len(late)}
        return _json(doc, headers=_headers(snap))

    def units(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        by: Annotated[str, Query(description="unit (responsible unit) or person (responsible person)")] = "unit",
        f: Annotated[str | None, Query(description="json (default), csv, xlsx (Excel) or html")] = None,
        lang: LangQ = None,
    ) -> Response:
        fmt = _format(request, f, xlsx=True, html=True)
        if by not in UNIT_GROUPINGS:
            raise InvalidParameter.not_one_of("by", by, UNIT_GROUPINGS)
        landing = None
        if fmt == "html" and date is None and version is None:
            # the page opens where the completion map and the briefing do (completion.landing: today,
            # or before opening day and a round of reports the latest checkpoint with data; JSON and
            # CSV keep today)
            from completion.landing import landing_date

            landing = landing_date(twin)
            date = landing.on.isoformat()
        _, snap = self._snapshot(twin, who, date, version)
        # (on opening day or after it each unit names its projects that missed it, done since or not)
        rows = unit_table(snap.statuses, snap.weights, snap.report_states(), by, snap.opening)
        if fmt == "csv":
            return _csv(
                (unit_row(u) for u in rows), UNIT_COLUMNS, f"units-{snap.on.isoformat()}-{by}.csv", _headers(snap)
            )
        doc = {**snapshot_meta(snap), "by": by, "units": [u.to_dict() for u in rows], "numberReturned": len(rows)}
        if fmt == "xlsx":
            from web.excel import units_workbook

            body = units_workbook(page_lang(request, lang), doc)
            return _excel(body, f"units-{snap.on.isoformat()}-{by}.xlsx", _headers(snap))
        if fmt == "html":
            from web.i18n import in_language, other_lang
            from web.maps import nav_html
            from web.panels import evidence_page_url, evidence_project_url, project_page_url
            from web.templating import render

            language = page_lang(request, lang)
            other = other_lang(language)
            links = partial(public_url, request)
            # each unit's projects whose report runs ahead of their imagery, linked to their rows of
            # the evidence page of the same date and version (with survey imagery only: without it
            # nothing is measured, and an empty column would say the imagery agrees)
            imagery = bool(twin.surveys())
            flags = snapshot_flags(twin, snap, version) if imagery else {}
            # the maps' navigation (home, the completion map of the same date, ...) and the language switch
            switch = public_url(request, "/completion/units", f="html", date=doc["date"], by=by, lang=other)
            nav = nav_html(partial(public_url, request), language, "units", switch, date=doc["date"])
            return HTMLResponse(
                render(
                    "completion_units.html",
                    lang=language,
                    doc=doc,
                    local=partial(in_language, language),
                    nav=nav,
                    landing=landing if landing is not None and landing.moved else None,
                    # each listed code links to its project's page of the same date
                    project_href=partial(project_page_url, links, on=doc["date"], lang=language),
                    # and its name beside it on hover
                    names={
                        s.project.code: s.project.name_en if language == "en" else s.project.name_zh
                        for s in snap.statuses
                    },
                    imagery=imagery,
                    flagged=codes_by_unit(snap.statuses, flags, by),
                    evidence_page=evidence_page_url(links, doc["date"], language, version),
                    evidence_href=partial(evidence_project_url, links, on=doc["date"], lang=language, version=version),
                ),
                headers=_headers(snap),
            )
        return _json(doc, headers=_headers(snap))

    def brief(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        f: Annotated[str | None, Query(description="pdf (default) or png")] = None,
        lang: LangQ = None,
        paper: Annotated[
            str | None,
            Query(description="a3 (default: one A3 landscape page) or a4 (two A4 portrait pages, PDF only)"),
        ] = None,
    ) -> Response:
        from web.brief import FORMATS, MEDIA_TYPES, PAPERS, default_filename, paper_problem, render_brief

        fmt = check_form(f, FORMATS) or "pdf"
        sheet = (paper or "a3").lower()
        if sheet not in PAPERS:
            raise InvalidParameter.not_one_of("paper", paper, tuple(PAPERS))
        problem = paper_problem(sheet, fmt)
        if problem:
            raise InvalidParameter(problem, parameter="paper")
        language = page_lang(request, lang)
        asked = date is not None or version is not None  # else the paper says which date was chosen, and why
        if not asked:
            # like the maps: today, or before opening day and a round of reports the latest checkpoint with data
            from completion.landing import landing_date

            date = landing_date(twin).on.isoformat()
        comp, snap = self._snapshot(twin, who, date, version)
        body = render_brief(
            twin,
            comp,
            snap,
            lang=language,
            fmt=fmt,
            version=version,
            base_url=public_url(request, ""),  # the PDF's project codes link to their pages, at this address
            turn=BRIEF_RENDERS.turn,  # a new page waits its turn, or is refused when too many wait (api.renders)
            asked=asked,
            paper=sheet,
        )
        disposition = f'inline; filename="{default_filename(snap, language, fmt, sheet)}"'
        return Response(
            body, media_type=MEDIA_TYPES[fmt], headers={**_headers(snap), "Content-Disposition": disposition}
        )

    def missing(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: DateQ = None,
        version: VersionQ = None,
        f: TableFormatQ = None,
        lang: ExcelLangQ = None,
    ) -> Response:
        fmt = _format(request, f, xlsx=True)
        _, snap = self._snapshot(twin, who, date, version)
        rows = missing_reports(snap.statuses, snap.report_states())
        if fmt == "xlsx":
            from web.excel import missing_workbook

            body = missing_workbook(page_lang(request, lang), snapshot_meta(snap), rows)
            return _excel(body, f"missing-{snap.on.isoformat()}.xlsx", _headers(snap))
        if fmt != "json":
            return _csv(rows, MISSING_COLUMNS, f"missing-{snap.on.isoformat()}.csv", _headers(snap))
        doc = {**snapshot_meta(snap), "missing": rows, "numberReturned": len(rows)}
        return _json(doc, headers=_headers(snap))


def _parse_report(code: str, body: Any) -> tuple[ProgressReport, str]:
    if not isinstance(body, dict):
        raise BadInput('the body must be a JSON object such as {"percent": 45, "date": "2026-10-06", "note": "..."}')
    unknown = set(body) - REPORT_KEYS
    if unknown:
        raise BadInput(
            f"unknown field(s) {', '.join(sorted(unknown))}; a report takes {', '.join(sorted(REPORT_KEYS))}"
        )
    pct = body.get("percent")
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct):
        raise BadInput("percent must be a number from 0 to 100")
    on_text = body.get("date")
    if on_text is None:
        on = today_local()
    else:
        try:
            on = dt.date.fromisoformat(str(on_text))
        except ValueError:
            raise BadInput(f"date {on_text!r} is not YYYY-MM-DD") from None
    for k in ("note", "reason", "parent"):
        if body.get(k) is not None and not isinstance(body[k], str):
            raise BadInput(f"{k} must be text")
    report = ProgressReport(code, float(pct), on, body.get("note"), body.get("reason"))
    return report, body.get("parent") or "HEAD"


def completion_at(
    twin: TwinView, settings: CompletionSettings, on: str | None, version: str | None
) -> tuple[Completion, Snapshot]:
    """The completion as it stood on the date ``on`` (None: today) as of ``version`` (a commit), as
    the completion and evidence routes read it: a bad date or version is 400 naming its parameter,
    an unknown commit too (api.deps.resolve_version, as on the items; Completion.at's own NotFound
    answered 404 here), and a date before the data 404 saying when it starts, not "0 projects"."""
    try:
        day = not_after_today(parse_day(on, settings, twin=twin))  # a date to come: no reports from then
    except BadInput as e:
        raise InvalidParameter.of(e, parameter="date") from None
    if version is not None:
        resolve_version(twin, version)
    comp = Completion(twin, settings)
    try:
        snap = comp.at(day, version)
    except BadInput as e:
        raise InvalidParameter.of(e, parameter="version") from None
    first_data(twin, snap.ref.seq, snap.on)
    return comp, snap
