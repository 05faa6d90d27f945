"""Evidence from imagery over HTTP: each project's imagery-derived completion estimate beside its
reported percent, and the flag when the report runs ahead of it (completion.evidence).

``GET /projects/{code}/evidence`` (``survey=`` an id to use that survey) and ``GET /evidence``
(every project, ``flagged=true`` for the flagged ones only); both take ``date`` (YYYY-MM-DD or a
checkpoint such as T-30) and ``version`` like the completion endpoints, and ``surveys_version``: the
version the surveys are read at (default: ``version``, else the head). The answer names both
(``version``: the register and reports; ``surveys_version``), so asking again with them gives the
same figures. Without a date or version they answer on the date the completion views open on
(completion.landing), and say so in ``landing``. ``/evidence?f=html`` (or a browser's Accept) is the
page leaders read of them (web.evidence_page), made as the units page is.
"""

from __future__ import annotations

from enum import Enum
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import HTMLResponse, Response

from api.completion import completion_at
from api.deps import (
    StrictQueryRoute,
    TwinDep,
    add_get_route,
    add_page_route,
    collection_of,
    negotiate,
    project_path,
    public_url,
)
from api.errors import InvalidParameter
from api.maps import LangQ
from api.maps import _lang as page_lang
from completion.evidence import EvidenceSettings, Surveys, evidence_for_snapshot, evidence_surveys, project_evidence
from completion.landing import Landing, landing_date
from completion.register import LAYER
from completion.settings import CompletionSettings
from completion.snapshot import Snapshot, snapshot_meta
from twin.access import TwinView
from twin.errors import BadInput

JSON = "application/json"

DateQ = Annotated[
    str | None,
    Query(
        description="The date to evaluate, YYYY-MM-DD or a checkpoint such as T-30 (default: the date the "
        "completion views open on: today, or before opening day and a round of reports the latest "
        "checkpoint with reports; `landing` says so)."
    ),
]
VersionQ = Annotated[str | None, Query(description="Read the twin at this commit (id, HEAD or HEAD~n).")]
SurveysVersionQ = Annotated[
    str | None,
    Query(
        description="Read the surveys as recorded by this version (id, HEAD~n, checkpoint or date; default: "
        "`version`, else the head). The answer's `surveys_version` gives it back."
    ),
]


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), media_type=JSON, headers=headers)


def _settings_doc(s: EvidenceSettings) -> dict[str, Any]:
    return {
        "ndvi_threshold": s.evidence_ndvi_threshold,
        "margin_points": s.evidence_margin,
        "planted_share": s.evidence_planted_share,
        "min_coverage": s.evidence_min_coverage,
    }


def landing_doc(landing: Landing) -> dict[str, Any]:
    """Why the answer is not about today (the pages' note, in English)."""
    return {
        "date": landing.on.isoformat(),
        "checkpoint": landing.checkpoint,
        "reason": landing.reason,
        "today": landing.today.isoformat(),
        "note": landing.note("date=today"),
    }


class EvidenceFactory:
    """The evidence endpoints; mounted by api.main.create_app."""

    def __init__(self, settings: CompletionSettings | None = None) -> None:
        self.settings = settings or CompletionSettings()
        self.router = APIRouter(route_class=StrictQueryRoute)
        tags: list[str | Enum] = ["Completion"]
        add_get_route(
            self.router,
            "/projects/{code}/evidence",
            self.project,
            summary="A project's imagery-derived completion estimate against its report",
            tags=tags,
        )
        # a page too (f=html, or a browser): its errors are answered as pages (api.deps.add_page_route)
        add_page_route(self.router, "/evidence", self.all, summary="Every project's evidence from imagery", tags=tags)

    def _snapshot(self, twin: TwinView, on: str | None, version: str | None) -> tuple[Snapshot, dict[str, Any]]:
        """The snapshot, and the answer's leading fields (the date's, and why it was chosen)."""
        collection_of(twin, LAYER)
        extra: dict[str, Any] = {}
        if on is None and version is None:  # where the completion views open, said
            landing = landing_date(twin, settings=self.settings)
            on = landing.on.isoformat()
            if landing.moved:
                extra["landing"] = landing_doc(landing)
        return completion_at(twin, self.settings, on, version)[1], extra

    @staticmethod
    def _surveys(twin: TwinView, snap: Snapshot, version: str | None, surveys_version: str | None) -> Surveys:
        try:
            return evidence_surveys(twin, snap, version, surveys_version)
        except BadInput as e:
            raise InvalidParameter.of(e, parameter="surveys_version") from None

    @staticmethod
    def _meta(snap: Snapshot, surveys: Surveys, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            **snapshot_meta(snap),
            "surveys_version": surveys.ref.commit.id if surveys.ref.commit else None,
            **extra,
        }

    def project(
        self,
        request: Request,
        twin: TwinDep,
        code: Annotated[str, Path(description="The project code, e.g. LS-04.")],
        survey: Annotated[
            str | None, Query(description="Use this survey (its id) instead of the latest fitting one.")
        ] = None,
        date: DateQ = None,
        version: VersionQ = None,
        surveys_version: SurveysVersionQ = None,
    ) -> Response:
        snap, extra = self._snapshot(twin, date, version)
        snap.status(code)  # 404 for a project not in the register then
        surveys = self._surveys(twin, snap, version, surveys_version)
        settings = EvidenceSettings()
        ev = project_evidence(
            twin, code, survey, snap.on, version=version, settings=settings, completion_settings=self.settings,
            surveys=surveys,
        )  # fmt: skip
        doc = {
            **self._meta(snap, surveys, extra),
            "evidence": ev.to_dict(),
            "settings": _settings_doc(settings),
            "links": [
                {"rel": "project", "type": JSON, "href": public_url(request, project_path(code))},
                *(
                    [{"rel": "survey", "type": JSON, "href": public_url(request, f"/surveys/{ev.survey}")}]
                    if ev.survey
                    else []
                ),
            ],
        }
        return _json(doc, {"X-Twin-Version": snap.version or ""})

    def all(
        self,
        request: Request,
        twin: TwinDep,
        date: DateQ = None,
        version: VersionQ = None,
        surveys_version: SurveysVersionQ = None,
        flagged: Annotated[
            bool, Query(description="Only the projects whose report runs ahead of their imagery.")
        ] = False,
        f: Annotated[str | None, Query(description="json (default) or html (a page to read and print)")] = None,
        lang: LangQ = None,
    ) -> Response:
        if negotiate(request, f, ("json", "html")) == "html":
            return self._page(request, twin, date, version, surveys_version, flagged, lang)
        snap, extra = self._snapshot(twin, date, version)
        surveys = self._surveys(twin, snap, version, surveys_version)
        settings = EvidenceSettings()
        items = evidence_for_snapshot(twin, snap, settings, surveys=surveys)
        if flagged:
            items = [e for e in items if e.flag]
        doc = {
            **self._meta(snap, surveys, extra),
            "evidence": [e.to_dict() for e in items],
            "numberReturned": len(items),
            "flagged": sum(1 for e in items if e.flag),
            "settings": _settings_doc(settings),
        }
        return _json(doc, {"X-Twin-Version": snap.version or ""})

    def _page(
        self,
        request: Request,
        twin: TwinView,
        date: str | None,
        version: str | None,
        surveys_version: str | None,
        flagged: bool,
        lang: str | None,
    ) -> Response:
        """GET /evidence?f=html: the same evidence as the JSON, read through the caller's view of the
        twin, as a page (web.evidence_page) made as the units page is (api/completion.py ``units``)."""
        from web.evidence_page import evidence_page

        language = page_lang(request, lang)
        landing = None
        if date is None and version is None:  # the date the completion map opens on, said on the page
            landing = landing_date(twin, settings=self.settings)
            date = landing.on.isoformat()
        snap, _ = self._snapshot(twin, date, version)
        surveys = self._surveys(twin, snap, version, surveys_version)
        settings = EvidenceSettings()
        body = evidence_page(
            partial(public_url, request),
            language,
            snap,
            evidence_for_snapshot(twin, snap, settings, surveys=surveys),
            flagged=flagged,
            margin=settings.evidence_margin,
            surveys_commit=surveys.ref.commit.id if surveys.ref.commit else None,
            version=version,
            surveys_version=surveys_version,
            landing=landing if landing is not None and landing.moved else None,
            schema=collection_of(twin, LAYER),  # names categories and units in the page's language
        )
        return HTMLResponse(body, headers={"X-Twin-Version": snap.version or ""})
