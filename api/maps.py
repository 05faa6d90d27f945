"""The maps over HTTP: the home page, the map pages, the data they load, and their static assets.

Pages and data are built by web/ from the twin's own queries; this module only routes.

    /                    (browsers: Accept text/html) the home page; API clients keep the JSON landing
    /maps                the home page, ?lang=zh|en
    /maps/completion     ?date=YYYY-MM-DD|T-30 &lang
    /maps/timeline       ?lang
    /maps/changes        ?from= &to= (commit, HEAD~n, date) &lang
    /maps/layers/{layer} ?version= &lang
    /maps/data/...       the JSON the pages load as the view changes (features; classes of tiled layers)
    /static/vendor/leaflet/...  Leaflet's dist folder from its npm package (web/node_modules)
    /static/web/...      the map script and styles (web/static)
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from api.deps import ReaderDep, StrictQueryRoute, TwinDep, add_get_route, add_page_route, get_settings
from api.errors import InvalidParameter
from twin.access import TwinView
from twin.errors import BadInput
from web import i18n
from web.assets import OWN_PREFIX, OWN_STATIC, VENDOR_PREFIX, AssetsMissing, vendor_dirs
from web.data import json_bytes, parse_bbox
from web.landing import landing_html
from web.maps import (
    MapContext,
    changes_doc,
    changes_map,
    classes_doc,
    completion_map,
    features_doc,
    layer_map,
    panel_data,
    timeline_map,
)

LangQ = Annotated[str | None, Query(description="zh or en (default: the browser's language, else Chinese).")]
JSON = "application/json"
GZIP_ABOVE = 256 * 1024


def _lang(request: Request, lang: str | None) -> str:
    if lang is not None and lang not in i18n.LANGS:
        raise InvalidParameter.not_one_of("lang", lang, i18n.LANGS)
    return i18n.norm_lang(lang, request.headers.get("accept-language"))


def _ctx(request: Request, twin: TwinView, who: Any, lang: str) -> MapContext:
    # The view hides what the caller may not see: the maps need no rule of their own.
    return MapContext(twin=twin, lang=lang, base=request.scope.get("root_path", "").rstrip("/"))


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def _missing_assets(e: AssetsMissing) -> HTMLResponse:
    from web.templating import render

    return HTMLResponse(render("assets_missing.html", lang="en", error=str(e)), status_code=503)


def _data(request: Request, doc: dict[str, Any]) -> Response:
    body = json_bytes(doc)
    headers = {"Cache-Control": "no-cache"}
    if len(body) > GZIP_ABOVE and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(body, media_type=JSON, headers=headers)


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    try:
        return parse_bbox(text)
    except BadInput as e:
        raise InvalidParameter.of(e, parameter="bbox") from None


def landing_response(request: Request, twin: TwinView, lang: str | None = None) -> HTMLResponse:
    """The home page, for the API landing page's HTML branch (browsers asking for "/")."""
    return _home(request, twin, lang)


def _before_history(twin: TwinView, on: str | None) -> None:
    """A completion map or panel on a date before the twin had any data answers 404 saying when its
    history starts, as /brief, /completion and the items' asof do, not a map of nothing (or a panel
    counting down to that year's opening day). A date it cannot read is left to the map to name."""
    from completion.intake import first_data
    from completion.settings import CompletionSettings
    from completion.snapshot import parse_day

    try:
        day = parse_day(on, CompletionSettings(), twin=twin)
    except BadInput:
        return
    if day is not None:
        first_data(twin, twin.resolve(asof=day.isoformat()).seq, day)


def _home(request: Request, twin: TwinView, lang: str | None) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    settings = get_settings(request)
    # the default title is English only: the page names the twin in its own language instead
    title = settings.title if settings.title != type(settings).model_fields["title"].default else None
    return _page(landing_html(twin, _lang(request, lang), root, title))


class MapsFactory:
    """The map pages and their data; api.main mounts it, `mount_statics(app)` the assets."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        r = self.router
        tags: list[Any] = ["Maps"]
        page = {"tags": tags, "response_class": HTMLResponse}  # documented as the pages they are
        add_page_route(r, "/maps", self.home, summary="Home page (maps)", **page)
        add_page_route(r, "/maps/completion", self.completion, summary="Completion map", **page)
        add_page_route(r, "/maps/timeline", self.timeline, summary="Checkpoint timeline", **page)
        add_page_route(r, "/maps/changes", self.changes, summary="Change map", **page)
        add_page_route(r, "/maps/layers/{layer}", self.layer, summary="Layer check map", **page)
        add_get_route(r, "/maps/data/features/{layer}", self.data_features, summary="Map features", tags=tags)
        add_get_route(r, "/maps/data/classes/{layer}", self.data_classes, summary="Map feature classes", tags=tags)
        add_get_route(r, "/maps/data/changes", self.data_changes, summary="Map changes", tags=tags)
        add_get_route(r, "/maps/data/panel", self.data_panel, summary="Completion panel", tags=tags)

    # ------------------------------------------------------------------ pages
    def home(self, request: Request, twin: TwinDep, lang: LangQ = None) -> Response:
        return _home(request, twin, lang)

    def completion(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: Annotated[
            str | None, Query(description="YYYY-MM-DD or a checkpoint such as T-30; default today.")
        ] = None,
        lang: LangQ = None,
        survey: Annotated[
            str | None,
            Query(
                description="The orthophoto under the layers (a survey id; default the latest flown by the date), or none."
            ),
        ] = None,
    ) -> Response:
        _before_history(twin, date)
        try:
            return _page(completion_map(_ctx(request, twin, who, _lang(request, lang)), date, survey))
        except AssetsMissing as e:
            return _missing_assets(e)
        except BadInput as e:
            raise InvalidParameter.of(e, parameter="survey" if str(e).startswith("survey=") else "date") from None

    def timeline(self, request: Request, twin: TwinDep, who: ReaderDep, lang: LangQ = None) -> Response:
        try:
            return _page(timeline_map(_ctx(request, twin, who, _lang(request, lang))))
        except AssetsMissing as e:
            return _missing_assets(e)

    def changes(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        from_: Annotated[str | None, Query(alias="from", description="Commit id, HEAD~n or a date.")] = None,
        to: Annotated[str | None, Query(description="Commit id, HEAD or a date.")] = None,
        lang: LangQ = None,
    ) -> Response:
        try:
            return _page(changes_map(_ctx(request, twin, who, _lang(request, lang)), from_, to))
        except AssetsMissing as e:
            return _missing_assets(e)

    def layer(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        layer: Annotated[str, Path(description="A layer (collection) id.")],
        version: Annotated[str | None, Query(description="Commit id, HEAD~n or a date.")] = None,
        lang: LangQ = None,
    ) -> Response:
        try:
            return _page(layer_map(_ctx(request, twin, who, _lang(request, lang)), layer, version))
        except AssetsMissing as e:
            return _missing_assets(e)

    # ------------------------------------------------------------------ data
    def data_features(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        layer: Annotated[str, Path()],
        mode: Annotated[str, Query(description="completion, check or plain")] = "plain",
        date: Annotated[str | None, Query(description="completion: the date")] = None,
        version: Annotated[str | None, Query(description="check, plain: the version")] = None,
        bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (lon/lat of the basemap)")] = None,
        zoom: Annotated[float | None, Query(ge=0, le=30, description="The zoom it is drawn at")] = None,
        lang: LangQ = None,
    ) -> Response:
        ctx = _ctx(request, twin, who, _lang(request, lang))
        doc = features_doc(ctx, layer, mode=mode, date_=date, version=version, bbox=_bbox(bbox), zoom=zoom)
        return _data(request, doc)

    def data_classes(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        layer: Annotated[str, Path()],
        mode: Annotated[str, Query(description="completion, check or plain")] = "plain",
        date: Annotated[str | None, Query(description="completion: the date")] = None,
        version: Annotated[str | None, Query(description="check, plain: the version")] = None,
        lang: LangQ = None,
    ) -> Response:
        """Style classes of a layer drawn from vector tiles, by feature id, and the version to draw."""
        ctx = _ctx(request, twin, who, _lang(request, lang))
        return _data(request, classes_doc(ctx, layer, mode=mode, date_=date, version=version))

    def data_changes(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        from_: Annotated[str, Query(alias="from")],
        to: Annotated[str | None, Query()] = None,
        bbox: Annotated[str | None, Query()] = None,
        zoom: Annotated[float | None, Query(ge=0, le=30)] = None,
        lang: LangQ = None,
    ) -> Response:
        ctx = _ctx(request, twin, who, _lang(request, lang))
        return _data(request, changes_doc(ctx, from_, to, _bbox(bbox), zoom))

    def data_panel(
        self,
        request: Request,
        twin: TwinDep,
        who: ReaderDep,
        date: Annotated[str, Query()],
        lang: LangQ = None,
    ) -> Response:
        _before_history(twin, date)
        ctx = _ctx(request, twin, who, _lang(request, lang))
        doc = panel_data(twin, date, ctx.lang, ctx.gcj02, ctx.url)
        return _data(request, doc)


def mount_statics(app: FastAPI) -> None:
    """Add the static assets the pages load (the vendor packages' and our own) to the app."""
    for name, folder in vendor_dirs().items():
        app.mount(f"{VENDOR_PREFIX}/{name}", StaticFiles(directory=folder, check_dir=False), name=f"vendor-{name}")
    app.mount(OWN_PREFIX, StaticFiles(directory=OWN_STATIC), name="web-static")
