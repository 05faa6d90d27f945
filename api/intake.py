"""Spreadsheet intake over HTTP: upload a register or a report sheet, or post many reports at once.

- ``POST /projects/import``: the body is an .xlsx workbook or a CSV file (``?sheet=`` names the
  sheet), sent as itself (its type, or application/octet-stream: what it is is read from its bytes)
  or as a browser's multipart/form-data form with one file field; the projects are added or updated
  as one commit. ``?time=`` records it at that time,
  ``?original_dates=true`` at the start of its earliest planned start day (as the CLI's option).
- ``POST /progress/import``: a report sheet, sent the same ways; one commit per responsible unit per report date.
  ``?original_dates=true`` records each report at its own date. Reports the twin already records
  are skipped (``skipped``); when every one is, the answer is 200 with no commit.
- ``POST /progress``: ``{"reports": [{"code", "percent", "date", "note", "reason"}, ...]}``, one
  commit by the token's holder.

A report sheet's commits are authored by each row's reporter (填报人; the token's holder for rows
without one); every report commit's message names the token's holder ("uploaded by ...").

Writing needs an editor's token; setting a commit's time (``time``, ``original_dates``) needs an
admin's, since it writes history as of the past. The body is limited by api.limits.BodyGuard
(``max_body_bytes``) like every other. A file or batch with bad rows answers 422 with every bad row
(``rows``: number and reason; a batch's items by their place in its list, from 1, all at once: those
that cannot be read with those that break the report rules) and commits nothing; the work itself is
completion.intake's.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from enum import Enum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import Principal, with_token
from api.deps import EditorDep, StrictQueryRoute, TwinDep, a_role, collection_of
from api.errors import Forbidden, InvalidParameter, UnsupportedMediaType, problem
from completion.intake import (
    Refused,
    RowProblem,
    Sheet,
    import_register,
    import_reports,
    read_sheet,
    register_recorded_time,
)
from completion.register import LAYER
from completion.reports import ProgressReport, ReportsRefused, check_progress, report_progress
from twin.access import TwinView
from twin.core import _as_utc
from twin.errors import BadInput, NotFound, ValidationFailed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORM = "multipart/form-data"
# The types a sheet comes as. What it is, is read from its bytes (``_upload_name``): Windows browsers
# send a CSV as application/vnd.ms-excel, and scripts send anything as application/octet-stream.
SHEET_TYPES = {XLSX, "text/csv", "application/csv", "application/vnd.ms-excel", "application/octet-stream", FORM}
BATCH_KEYS = {"reports", "parent", "time"}
REPORT_KEYS = {"code", "percent", "date", "note", "reason"}
# A batch's body as the API definition (/api) declares it (_parse_batch reads it).
BATCH_BODY: dict[str, Any] = {
    "required": True,
    "description": "Progress reports of many projects, committed together (a bad one refuses them all, each named)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["reports"],
                "additionalProperties": False,
                "properties": {
                    "reports": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["code", "percent", "date"],
                            "additionalProperties": False,
                            "properties": {
                                "code": {"type": "string", "minLength": 1},
                                "percent": {"type": "number", "minimum": 0, "maximum": 100},
                                "date": {"type": "string", "format": "date"},
                                "note": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                    "parent": {"type": "string", "description": "The version the reports were made against"},
                    "time": {
                        "type": "string",
                        "format": "date-time",
                        "description": "The commit's time, in the past (admin only)",
                    },
                },
            }
        }
    },
}


def _refused(e: Refused) -> Response:
    """422 naming every bad row (a batch's: every bad item, by its place in the list, from 1)."""
    rows = [{"row": n, "reason": why} for n, why in e.rows]
    shown = "; ".join(f"{e.noun} {n}: {why}" for n, why in e.rows[:10])
    more = f" (and {len(e.rows) - 10} more)" if len(e.rows) > 10 else ""
    detail = f"{e.source}: {len(e.rows)} bad {e.noun}(s), nothing committed: {shown}{more}"
    return problem(422, "Invalid rows", detail, rows=rows)


def _left_out(sh: Sheet) -> list[dict[str, Any]]:
    """The rows read as no project's (a totals row, formulas alone), as the CLI's note names them."""
    return [{"row": n, "reason": why} for n, why in sh.skipped]


def _admin_for_time(who: Principal, what: str) -> None:
    if not who.at_least("admin"):
        raise Forbidden(
            f"{who.name} is {a_role(who.role)}; {what} writes history as of the past and needs the admin role"
        )


def _sheet_kind(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in SHEET_TYPES:
        raise UnsupportedMediaType(
            f"send {XLSX}, text/csv, application/octet-stream or a {FORM} form with the file "
            f"(got {ctype or 'no content type'})"
        )
    return ctype


async def _sheet_upload(request: Request) -> tuple[bytes, str]:
    """The sheet sent, and the name it is read as: the form's file name, else upload.xlsx,
    upload.xls or upload.csv as its bytes say (an .xlsx is a zip, an old .xls an OLE2 file), so
    the errors name a file as what it is, whatever type it was sent as."""
    body = await request.body()
    name = None
    if _sheet_kind(request) == FORM:
        # Parsing a 20 MB form takes a second: off the event loop.
        body, name = await run_in_threadpool(_form_file, body, request.headers.get("content-type", ""))
    return body, name or _upload_name(body)


def _upload_name(body: bytes) -> str:
    if body.startswith(b"PK\x03\x04"):
        return "upload.xlsx"
    if body.startswith(b"\xd0\xcf\x11\xe0"):
        return "upload.xls"  # read_sheet answers with the advice to save it as .xlsx
    return "upload.csv"


def _form_file(body: bytes, content_type: str) -> tuple[bytes, str | None]:
    """The one file of a multipart/form-data body (a browser's form with a file field) and its file
    name (its last part, without a client's folders), read with the standard library's MIME parser
    (python-multipart, which Starlette's forms need, is not a dependency). Fields without a file
    (a note, a submit button) are passed over; none or several files are refused naming the fields."""
    from email import policy
    from email.parser import BytesParser

    if "boundary=" not in content_type.lower():
        raise BadInput(f"the {FORM} body names no boundary in its Content-Type")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    form = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not form.is_multipart():
        raise BadInput(f"the {FORM} body cannot be read as a form")
    files = []
    for part in form.iter_parts():
        filename = part.get_filename()  # type: ignore[attr-defined]
        data = part.get_payload(decode=True)
        if filename is None or (not filename and not data):  # not a file field, or one left empty
            continue
        field = part.get_param("name", header="content-disposition") or "?"  # type: ignore[attr-defined]
        files.append((str(field), _plain(filename), data if isinstance(data, bytes) else b""))
    if len(files) != 1:
        which = f"{len(files)} files ({', '.join(f for f, _, _ in files)})" if files else "no file"
        raise BadInput(f"the form has {which}; send the one workbook or CSV in one file field")
    _, filename, data = files[0]
    return data, filename


def _plain(filename: str) -> str | None:
    """A form's file name as text without folders (some browsers send C:\\...\\x.xlsx); browsers write
    a Chinese name as raw UTF-8, which the MIME parser keeps as escaped bytes."""
    text = filename.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\\", "/").rsplit("/", 1)[-1].strip() or None


class IntakeFactory:
    """The intake endpoints; mounted by api.main.create_app."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        tags: list[str | Enum] = ["Completion"]
        r = self.router
        binary = {"type": "string", "format": "binary"}
        form = {"type": "object", "properties": {"file": binary}, "required": ["file"]}
        sheet_body = with_token({"required": True, "content": {
            **{t: {"schema": binary} for t in (XLSX, "text/csv", "application/csv", "application/vnd.ms-excel",
                                                 "application/octet-stream")},
            FORM: {"schema": form}}})  # fmt: skip
        r.add_api_route("/projects/import", self.import_register, methods=["POST"], status_code=201, tags=tags,
                        summary="Import a project register sheet (.xlsx or .csv) as one commit",
                        openapi_extra=sheet_body)  # fmt: skip
        r.add_api_route("/progress/import", self.import_reports, methods=["POST"], status_code=201, tags=tags,
                        summary="Import a sheet of progress reports (one commit per unit per date)",
                        openapi_extra=sheet_body)  # fmt: skip
        r.add_api_route("/progress", self.batch, methods=["POST"], status_code=201, tags=tags,
                        summary="Report the progress of many projects as one commit",
                        openapi_extra=with_token(BATCH_BODY))  # fmt: skip

    async def import_register(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        sheet: Annotated[str | None, Query(description="The workbook's sheet (default: found by name).")] = None,
        time: Annotated[str | None, Query(description="Record the commit at this time (admin).")] = None,
        original_dates: Annotated[
            bool,
            Query(description="Record the register at the start of its earliest planned start day (admin)."),
        ] = False,
        new_units: Annotated[
            bool,
            Query(description="Add units the register does not hold even where one is like a unit it holds."),
        ] = False,
        new_categories: Annotated[
            bool,
            Query(description="Add categories the register does not know even where one is like a category it knows."),
        ] = False,
    ) -> Response:
        collection_of(twin, LAYER)
        _sheet_kind(request)
        when = None
        if time is not None and original_dates:
            raise InvalidParameter("give time or original_dates, not both", parameter="original_dates")
        if time is not None:
            _admin_for_time(who, "setting a commit's time")
            when = _as_utc(time)
        if original_dates:
            _admin_for_time(who, "original_dates")
        body, filename = await _sheet_upload(request)

        def work() -> dict[str, Any]:
            sh = read_sheet(
                body, "register", filename=filename, sheet=sheet, sheet_option="?sheet=", mapping_option=None
            )
            at = register_recorded_time(sh) if original_dates else when
            notes: list[str] = []  # units taken as the register's, projects moved to another unit or start
            doc = {"commit": None, "projects": len(sh.rows), "sheet": sh.name, "ignored_columns": sh.ignored,
                   "left_out_rows": _left_out(sh), "hidden_rows": sh.hidden_rows, "notes": notes}  # fmt: skip
            try:
                # as the command line does: a new unit like one of the register's is refused unless asked for
                info = import_register(
                    twin, sh, author=who.name, source=f"sheet {sh.name!r}", time=at,
                    new_units=new_units, new_units_option="?new_units=true", new_categories=new_categories,
                    new_categories_option="?new_categories=true", notes=notes,
                )  # fmt: skip
            except ValidationFailed as e:
                if not e.nothing_changes:
                    raise
                return doc
            return {**doc, "commit": info.to_dict()}

        try:
            doc = await run_in_threadpool(work)
        except Refused as e:
            return _refused(e)
        if doc["commit"] is None:  # the register holds the sheet already (sent again): nothing was created
            doc["detail"] = f"nothing to commit: the register already holds the {doc['projects']} projects as given"
            return Response(orjson.dumps(doc), status_code=200, media_type="application/json")
        return Response(orjson.dumps(doc), status_code=201, media_type="application/json",
                        headers={"X-Twin-Commit": doc["commit"]["id"]})  # fmt: skip

    async def import_reports(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        sheet: Annotated[str | None, Query(description="The workbook's sheet (default: found by name).")] = None,
        original_dates: Annotated[
            bool, Query(description="Record each report at its own date instead of now (admin).")
        ] = False,
    ) -> Response:
        collection_of(twin, LAYER)
        _sheet_kind(request)
        if original_dates:
            _admin_for_time(who, "original_dates")
        body, filename = await _sheet_upload(request)

        def work() -> dict[str, Any]:
            sh = read_sheet(
                body, "reports", filename=filename, sheet=sheet, sheet_option="?sheet=", mapping_option=None
            )
            # The rows that cannot be read are refused together with those that break the rules.
            result = import_reports(
                twin, sh, source=f"sheet {sh.name!r}", default_reporter=who.name, original_dates=original_dates,
                uploaded_by=who.name,
            )  # fmt: skip
            return {"commits": [c.to_dict() for c in result.commits], "reports": len(sh.rows) - result.skipped,
                    "skipped": result.skipped, "sheet": sh.name, "left_out_rows": _left_out(sh),
                    "hidden_rows": sh.hidden_rows}  # fmt: skip

        try:
            doc = await run_in_threadpool(work)
        except Refused as e:
            return _refused(e)
        if not doc["commits"]:  # every report already in the twin: nothing was created
            doc["detail"] = f"nothing to commit: the {doc['skipped']} reports are already in the twin"
            return Response(orjson.dumps(doc), status_code=200, media_type="application/json")
        return Response(orjson.dumps(doc), status_code=201, media_type="application/json",
                        headers={"X-Twin-Commit": doc["commits"][-1]["id"]})  # fmt: skip

    async def batch(self, request: Request, twin: TwinDep, who: EditorDep) -> Response:
        collection_of(twin, LAYER)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise UnsupportedMediaType(f"send application/json (got {ctype or 'no content type'})")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as e:
            raise BadInput(f"the body is not JSON: {e}") from None
        try:
            items, bad, parent, when = _parse_batch(body, who)
            info = await run_in_threadpool(_commit_batch, twin, items, bad, who.name, parent, when)
        except Refused as e:
            return _refused(e)
        doc = {"commit": info.to_dict(), "reports": len(items)}
        return Response(orjson.dumps(doc), status_code=201, media_type="application/json",
                        headers={"X-Twin-Commit": info.id})  # fmt: skip


def _commit_batch(
    twin: TwinView,
    items: list[tuple[int, ProgressReport]],
    bad: list[RowProblem],
    reporter: str,
    parent: str,
    when: dt.datetime | None,
) -> Any:
    """One commit of the items read; every bad item named at once by its place in the list (item 1
    is the first): those that could not be read (``bad``) with those that break the rules."""
    reports = [r for _, r in items]
    if bad:
        found = check_progress(twin, reports, parent=parent, time=when) if reports else []
        rows = [*bad, *(RowProblem(items[i][0], None, why) for i, why in found)]
        raise Refused("reports", sorted(rows, key=lambda p: p.row), "item")
    try:
        return report_progress(twin, reports, reporter=reporter, parent=parent, time=when, uploaded_by=reporter)
    except NotFound as e:  # a batch of one names its missing project this way
        raise Refused("reports", [RowProblem(items[0][0], None, str(e))], "item") from None
    except ReportsRefused as e:
        rows = [RowProblem(items[i][0], None, why) for i, why in e.items]
        raise Refused("reports", sorted(rows, key=lambda p: p.row), "item") from None


def _parse_batch(
    body: Any, who: Principal
) -> tuple[list[tuple[int, ProgressReport]], list[RowProblem], str, dt.datetime | None]:
    """The batch's reports that read, each with its place in the list (from 1), the items that do
    not (each with its reason), its parent and its time."""
    example = '{"reports": [{"code": "RD-03", "percent": 45, "date": "2026-10-06", "note": "..."}]}'
    if not isinstance(body, dict):
        raise BadInput(f"the body must be a JSON object such as {example}")
    # What is wrong with an object, named: a misspelt member ("report") or an empty list was told
    # only that the body must be such an object, which it was.
    unknown = sorted(set(body) - BATCH_KEYS)
    if unknown:
        missing = sorted(BATCH_KEYS - set(body))
        for key in unknown:
            close = difflib.get_close_matches(key, missing, n=1, cutoff=0.6)
            if close:
                raise BadInput(f"unknown member {key!r}; expected {close[0]!r}")
        listed = ", ".join(repr(k) for k in unknown)
        raise BadInput(f"unknown member(s) {listed}; a batch takes {', '.join(sorted(BATCH_KEYS))}")
    if "reports" not in body:
        raise BadInput(f"no reports given: the body must be a JSON object such as {example}")
    if not isinstance(body["reports"], list):
        raise BadInput(f"reports must be a list of reports, as in {example}")
    if not body["reports"]:
        raise BadInput(f"no reports given: the reports list is empty; give one or more, as in {example}")
    when = None
    if body.get("time") is not None:
        _admin_for_time(who, "setting a commit's time")
        when = _as_utc(str(body["time"]))
    bad: list[RowProblem] = []
    out: list[tuple[int, ProgressReport]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(body["reports"], start=1):
        if not isinstance(item, dict):
            bad.append(RowProblem(i, None, "a report is an object with code, percent and date"))
            continue
        extra = set(item) - REPORT_KEYS
        if extra:
            bad.append(RowProblem(i, None, f"unknown field(s) {', '.join(sorted(extra))}"))
            continue
        code, pct, on = item.get("code"), item.get("percent"), item.get("date")
        if not isinstance(code, str) or not code:
            bad.append(RowProblem(i, None, "no project code"))
            continue
        if code in seen:
            bad.append(
                RowProblem(i, None, f"a second report for {code} (also item {seen[code]}); a batch is one commit")
            )
            continue
        seen[code] = i
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct):
            bad.append(RowProblem(i, None, "percent must be a number from 0 to 100"))
            continue
        try:
            day = dt.date.fromisoformat(str(on))
        except ValueError:
            bad.append(RowProblem(i, None, f"date {on!r} is not YYYY-MM-DD"))
            continue
        note, reason = item.get("note"), item.get("reason")
        if not all(v is None or isinstance(v, str) for v in (note, reason)):
            bad.append(RowProblem(i, None, "note and reason must be text"))
            continue
        out.append((i, ProgressReport(code, float(pct), day, note, reason)))
    return out, bad, str(body.get("parent") or "HEAD"), when
