"""Survey rasters over HTTP: list, metadata, download, XYZ tiles (PNG/WebP), TileJSON, preview, upload.

- `/surveys`, `/surveys/{id}`: JSON with links; `version=`/`asof=` read the surveys recorded then.
- `/surveys/{id}/download`: the Cloud-Optimized GeoTIFF itself (Range requests answered, so GDAL's
  /vsicurl/ and QGIS read it remotely).
- `/surveys/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png|.webp`: web-map order {z}/{x}/{y} (XYZ),
  rendered by rio-tiler from the COG (reprojected on the fly from its CRS). Single-band surveys
  take `rescale=min,max` and `colormap_name=` (an NDVI defaults to 0,1 on red-yellow-green). A
  tile wholly outside the raster is 204 No Content: nothing to draw, and no bytes spent on it.
- Everything a survey serves is a function of its file, which never changes (the file is named by
  its checksum), so tiles, previews and downloads are immutable: kept a year, ETag from the
  checksum (and, for images, the rendering version RENDERING: the maps' and TileJSON's addresses
  carry `rendering=`, so a change of how images are drawn reaches clients that kept the old
  ones). A survey in a restricted layer is "private" (no shared cache may keep it) and, like a
  hidden layer, "no survey" (404) to callers outside its roles: every read goes through TwinDep.
- `POST /surveys?kind=...&date=...`: the raster as the raw request body (editor role; not a
  multipart form), streamed to a temporary file, imported as one commit; 201 with the survey's
  metadata. `filename=` (or a Content-Disposition header's filename) names the file, as the
  survey records it and refusals name it; `upload.tif` otherwise.
- `DELETE /surveys/{id}`: removes the survey's record as one commit (editor role); its file stays.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import tempfile
from datetime import date
from enum import Enum
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from api.auth import with_token
from api.caching import read_headers
from api.deps import (
    DatetimeParam,
    EditorDep,
    StrictQueryRoute,
    TwinDep,
    VersionDep,
    add_get_route,
    message_header,
    public_url,
)
from api.errors import InvalidParameter, UnsupportedMediaType
from twin.access import TwinView
from twin.errors import BadInput
from twin.survey_images import (
    MAX_ZOOM,
    MIN_ZOOM,
    RENDERING,
    colormap,
    colormap_names,
    default_colormap_name,
    default_range,
    render_preview,
    render_tile,
    zooms,
)
from twin.survey_read import SurveyFileUnavailable, forget, readable_survey_file, warn_unavailable
from twin.surveys import SurveyInfo, kind_warning, recorded_by, remove_survey
from twin.validation import control_character, text_limits, text_why

JSON = "application/json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
IMAGE_TYPES = {"png": "image/png", "webp": "image/webp"}
# The upload's body as the API definition (/api) declares it: the raster's bytes as they are (GDAL
# reads them whatever the type says; a multipart form is refused).
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "description": "The raster itself, a GeoTIFF, as the raw body (not a multipart form)",
    "content": {
        t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/tiff", "application/octet-stream")
    },
}

SurveyId = Annotated[str, Path(alias="surveyId", description="A survey id (from /surveys).")]
RescaleParam = Annotated[
    str | None, Query(description="min,max of the values drawn (single-band surveys), e.g. 0,1 for an NDVI.")
]
ColormapParam = Annotated[str | None, Query(description="A rio-tiler colour map name (single-band surveys).")]
RenderingParam = Annotated[
    int | None,
    Query(
        description="The rendering version the address was made for (the maps' and TileJSON's addresses carry "
        "it, so a change of how images are drawn gives them new addresses); images are drawn as this server "
        "draws them now, whatever it says."
    ),
]
RENDERED = f"rendering={RENDERING}"  # the query that names the images as drawn now


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def _immutable(twin: TwinView, info: SurveyInfo, request: Request) -> dict[str, str]:
    """Cache headers of an answer made only from the survey's (unchanging) file, the request and
    how images are drawn (RENDERING: a drawing changed by the code is a new ETag)."""
    hidden = bool(twin.layer(info.layer).restricted_to)
    key = f"{info.checksum}\0{RENDERING}\0{request.url.path}\0{request.url.query}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:32]
    return {
        "Cache-Control": ("private" if hidden else "public") + ", max-age=31536000, immutable",
        "ETag": f'"{tag}"',
    }


def _not_modified(request: Request, headers: dict[str, str]) -> Response | None:
    if request.headers.get("if-none-match", "").strip() in (headers["ETag"], "*"):
        return Response(status_code=304, headers=headers)
    return None


class SurveysFactory:
    """The survey raster endpoints; mounted by api.main.create_app."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        self.register()

    def register(self) -> None:
        r = self.router
        tags: list[str | Enum] = ["Surveys"]
        add_get_route(r, "/surveys", self.list_surveys, summary="The survey rasters recorded", tags=tags)
        r.add_api_route(
            "/surveys", self.upload, methods=["POST"], status_code=201, tags=tags,
            summary="Import a survey raster (the GeoTIFF as the body; editor role)",
            openapi_extra=with_token(UPLOAD_BODY),
        )  # fmt: skip
        add_get_route(r, "/surveys/{surveyId}", self.metadata, summary="A survey's metadata", tags=tags)
        r.add_api_route(
            "/surveys/{surveyId}", self.remove, methods=["DELETE"], status_code=204, tags=tags,
            summary="Remove a survey's record (a commit; editor role); its file stays",
            openapi_extra=with_token(),
        )  # fmt: skip
        add_get_route(
            r, "/surveys/{surveyId}/download", self.download, summary="The survey as a Cloud-Optimized GeoTIFF",
            tags=tags, response_class=Response,
        )  # fmt: skip
        add_get_route(
            r, "/surveys/{surveyId}/tilejson.json", self.tilejson, summary="The survey's tiles as TileJSON 3.0",
            tags=tags,
        )  # fmt: skip
        add_get_route(
            r, "/surveys/{surveyId}/preview.png", self.preview, summary="A preview of the whole survey (PNG)",
            tags=tags, response_class=Response,
        )  # fmt: skip
        add_get_route(
            r, "/surveys/{surveyId}/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmt}", self.tile,
            summary="An XYZ tile of the survey (PNG or WebP)", tags=tags, response_class=Response,
        )  # fmt: skip

    # ------------------------------------------------------------------ metadata
    def _doc(self, request: Request, info: SurveyInfo) -> dict[str, Any]:
        base = f"/surveys/{info.id}"
        doc = info.to_dict()
        doc.pop("file_name")
        doc["links"] = [
            {"rel": "self", "type": JSON, "href": public_url(request, base)},
            {"rel": "enclosure", "type": COG, "title": "The COG file", "href": public_url(request, base + "/download")},
            {"rel": "tilejson", "type": JSON, "href": public_url(request, base + "/tilejson.json")},
            {
                "rel": "item",
                "type": "image/webp",
                "templated": True,
                "href": public_url(request, base + "/tiles/WebMercatorQuad") + "/{z}/{x}/{y}.webp?" + RENDERED,
            },
            {"rel": "preview", "type": "image/png", "href": public_url(request, base + "/preview.png?" + RENDERED)},
            {"rel": "version", "type": JSON, "href": public_url(request, f"/versions/{info.commit}")},
        ]
        return doc

    async def list_surveys(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        kind: Annotated[str | None, Query(description="Only surveys of this kind (orthophoto, ndvi, ...).")] = None,
        datetime_: DatetimeParam = None,
    ) -> Response:
        ref = version.resolve(twin, datetime_)
        surveys = await run_in_threadpool(twin.surveys, ref, kind)
        doc = {
            "surveys": [self._doc(request, s) for s in surveys],
            "numberReturned": len(surveys),
            "links": [{"rel": "self", "type": JSON, "href": str(request.url)}],
        }
        return _json(doc, headers=read_headers(request, ref, version.version))

    async def metadata(
        self, request: Request, twin: TwinDep, version: VersionDep, survey_id: SurveyId, datetime_: DatetimeParam = None
    ) -> Response:
        ref = version.resolve(twin, datetime_)
        info = await run_in_threadpool(twin.survey, survey_id, ref)
        return _json(self._doc(request, info), headers=read_headers(request, ref, version.version))

    # ------------------------------------------------------------------ files and pixels
    def _survey(
        self, twin: TwinView, version: Any, survey_id: str, datetime_: str | None = None
    ) -> tuple[SurveyInfo, FilePath]:
        info = twin.survey(survey_id, version.resolve(twin, datetime_))
        # a file this server has not (another survey directory, not yet copied): a 404 naming it
        # and VENUE_TWIN_SURVEY_DIR, not a 500 from the reader
        return info, readable_survey_file(twin, info)

    async def download(
        self, request: Request, twin: TwinDep, version: VersionDep, survey_id: SurveyId, datetime_: DatetimeParam = None
    ) -> Response:
        info, path = await run_in_threadpool(self._survey, twin, version, survey_id, datetime_)
        headers = _immutable(twin, info, request) | {"ETag": f'"{info.checksum}"'}
        stamp = info.date.isoformat()
        return FileResponse(path, media_type=COG, headers=headers, filename=f"{info.kind}-{stamp}-{info.id}.tif")

    async def tilejson(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        survey_id: SurveyId,
        rescale: RescaleParam = None,
        colormap_name: ColormapParam = None,
        fmt: Annotated[str, Query(alias="format", description="png or webp (the tiles' format).")] = "webp",
        datetime_: DatetimeParam = None,
    ) -> Response:
        if fmt not in IMAGE_TYPES:
            raise InvalidParameter.not_one_of("format", fmt, ("png", "webp"))
        info, path = await run_in_threadpool(self._survey, twin, version, survey_id, datetime_)
        minzoom, maxzoom = await run_in_threadpool(zooms, path)
        query = {k: v for k, v in (("rescale", rescale), ("colormap_name", colormap_name)) if v is not None}
        template = public_url(request, f"/surveys/{info.id}/tiles/WebMercatorQuad") + "/{z}/{x}/{y}." + fmt
        template += "?" + "&".join([RENDERED, *(f"{k}={v}" for k, v in query.items())])
        w, s, e, n = info.bounds
        doc = {
            "tilejson": "3.0.0",
            "name": f"{info.kind} {info.date.isoformat()}",
            "description": f"Survey {info.id}: {info.kind} flown {info.date.isoformat()}, {info.resolution:.2f} m",
            "version": "1.0.0",
            "scheme": "xyz",
            "tiles": [template],
            "minzoom": minzoom,
            "maxzoom": maxzoom,
            "bounds": [w, s, e, n],
            "center": [(w + e) / 2, (s + n) / 2, max(minzoom, min(maxzoom, 16))],
        }
        headers = _immutable(twin, info, request)
        return _not_modified(request, headers) or _json(doc, headers=headers)

    async def preview(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        survey_id: SurveyId,
        rescale: RescaleParam = None,
        colormap_name: ColormapParam = None,
        rendering: RenderingParam = None,
        datetime_: DatetimeParam = None,
    ) -> Response:
        info, path = await run_in_threadpool(self._survey, twin, version, survey_id, datetime_)
        headers = _immutable(twin, info, request)
        cached = _not_modified(request, headers)
        if cached is not None:
            return cached
        style = await run_in_threadpool(_style, info, path, rescale, colormap_name)
        body = await run_in_threadpool(_rendered, twin, info, render_preview, path, "png", *style)
        return Response(body, media_type="image/png", headers=headers)

    async def tile(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        survey_id: SurveyId,
        z: Annotated[int, Path(description="Zoom level, 0 to 24.")],
        x: Annotated[int, Path(description="Column, from the left.")],
        y: Annotated[int, Path(description="Row, from the top.")],
        fmt: Annotated[str, Path(description="png or webp.")],
        rescale: RescaleParam = None,
        colormap_name: ColormapParam = None,
        rendering: RenderingParam = None,
        datetime_: DatetimeParam = None,
    ) -> Response:
        if fmt not in IMAGE_TYPES:
            raise InvalidParameter.not_one_of("format", fmt, ("png", "webp"), subject="tile format ")
        if not MIN_ZOOM <= z <= MAX_ZOOM:
            raise InvalidParameter(f"z={z} is not a zoom level from {MIN_ZOOM} to {MAX_ZOOM}", parameter="z")
        for name, value in (("x", x), ("y", y)):
            if not 0 <= value < 2**z:
                raise InvalidParameter(f"{name}={value} is off the grid at zoom {z} (0 to {2**z - 1})", parameter=name)
        info, path = await run_in_threadpool(self._survey, twin, version, survey_id, datetime_)
        headers = _immutable(twin, info, request)
        cached = _not_modified(request, headers)
        if cached is not None:
            return cached
        style = await run_in_threadpool(_style, info, path, rescale, colormap_name)
        body = await run_in_threadpool(_rendered, twin, info, render_tile, path, z, x, y, fmt, *style)
        if body is None:
            return Response(status_code=204, headers=headers)
        return Response(body, media_type=IMAGE_TYPES[fmt], headers=headers)

    # ------------------------------------------------------------------ upload
    async def upload(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        kind: Annotated[
            str, Query(description="The kind of survey: orthophoto or ndvi (read by the evidence), or another.")
        ],
        date_: Annotated[str, Query(alias="date", description="The flight date, YYYY-MM-DD.")],
        message: Annotated[str | None, Query(description="The commit message.")] = None,
        layer: Annotated[str, Query(description="The survey layer (surveys, or a surveys_* layer).")] = "surveys",
        filename: Annotated[
            str | None, Query(description="The file's name, as the survey records it (default: upload.tif).")
        ] = None,
        content_disposition: Annotated[str | None, Header(alias="Content-Disposition")] = None,
    ) -> Response:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower().startswith("multipart/"):
            # curl -F wraps the file in a form: GDAL would be handed the form's boundaries and headers.
            raise UnsupportedMediaType(
                "the raster is sent as the raw request body, not a multipart form: curl --data-binary @ortho.tif "
                "-H 'Content-Type: image/tiff' (not -F file=@ortho.tif)"
            )
        try:
            flown = date.fromisoformat(date_)
        except ValueError:
            raise InvalidParameter(f"date={date_!r} is not a date (YYYY-MM-DD)", parameter="date") from None
        name = _upload_name(filename, content_disposition)
        if message:  # said before the body is read, as an X-Twin-Message is (api.deps.message_header)
            why = text_why("message", message, True, text_limits().message, "VENUE_TWIN_MESSAGE_MAX_CHARS")
            if why is not None:
                raise InvalidParameter(why.text, parameter="message")
        # The body is streamed to a temporary file (BodyGuard caps its size), never held in memory;
        # it is given the upload's name in a directory of its own, so a refusal names the file
        # rather than a temporary name and the server's path (and the survey records that name).
        workdir = FilePath(tempfile.mkdtemp(prefix="venue-twin-upload-"))
        tmp = workdir / name
        try:
            with open(tmp, "wb") as f:
                async for chunk in request.stream():
                    f.write(chunk)
            if tmp.stat().st_size == 0:
                raise InvalidParameter("the request body is empty; send the GeoTIFF as the body", parameter="body")
            try:
                made = await run_in_threadpool(
                    twin.import_survey, tmp, kind=kind, on=flown, author=who.name, message=message, layer=layer
                )
            except BadInput as e:
                raise BadInput(str(e).replace(str(tmp), tmp.name)) from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        info = await run_in_threadpool(recorded_by, twin, made)
        doc = self._doc(request, info)
        warning = kind_warning(info.kind)
        if warning:
            doc["warnings"] = [warning]
        return _json(doc, status=201, headers={"Location": public_url(request, f"/surveys/{info.id}")})

    async def remove(
        self,
        twin: TwinDep,
        who: EditorDep,
        survey_id: SurveyId,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
    ) -> Response:
        made = await run_in_threadpool(
            lambda: remove_survey(twin, survey_id, author=who.name, message=message_header(message))
        )
        return Response(status_code=204, headers={"X-Twin-Commit": made.id})


DEFAULT_UPLOAD_NAME = "upload.tif"
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'[^']*')?"?([^";]+)"?""", re.IGNORECASE)


def _upload_name(given: str | None, disposition: str | None) -> str:
    """The name an upload is recorded under: `filename=`, else a Content-Disposition's filename,
    else upload.tif; only its last path part, refused if it is not a plain file name."""
    from urllib.parse import unquote

    if given is None and disposition:
        found = _FILENAME.search(disposition)
        given = unquote(found.group(1)) if found else None
    if given is None:
        return DEFAULT_UPLOAD_NAME
    name = given.replace("\\", "/").rsplit("/", 1)[-1].strip()
    # control_character: C0, DEL, C1 and the bidi overrides (U+202E shows "x<U+202E>fit.exe" as "xexe.tif")
    bad = control_character(name)
    if bad is not None:
        raise InvalidParameter(
            f"filename={given[:60]!r} holds the control character {bad}, which a file name may not hold",
            parameter="filename",
        )
    if not name or name in (".", "..") or len(name) > 200:
        raise InvalidParameter(f"filename={given[:60]!r} is not a file name", parameter="filename")
    return name


# ---------------------------------------------------------------------- rendering (rio-tiler)
def _rendered(twin: TwinView, info: SurveyInfo, render: Any, *args: Any) -> Any:
    """``render(*args)``; a file that fails past its header (truncated, damaged) is a 404 naming it,
    as a missing one is, and is passed over from then on (twin.survey_read), never a 500."""
    from rasterio.errors import RasterioError

    try:
        return render(*args)
    except RasterioError as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        why = f"file unreadable on this server ({text.replace(str(twin.survey_path(info)), info.file_name)})"
        forget(twin, info, why)
        warn_unavailable(info, why)
        raise SurveyFileUnavailable(info, why) from None


def _style(info: SurveyInfo, path: FilePath, rescale: str | None, colormap_name: str | None) -> tuple[Any, Any]:
    """The (rescale range, colour map) a survey's images are drawn with, checked; the defaults
    are twin.survey_images' (which the maps' legends use too). May read the file's overviews once
    (the range of a single-band survey of another kind than NDVI): called in the thread pool."""
    in_range = default_range(info, path)
    if rescale is not None:
        try:
            lo, hi = (float(v) for v in rescale.split(","))
        except ValueError:
            raise InvalidParameter(f"rescale={rescale!r} is not min,max (two numbers)", parameter="rescale") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidParameter(f"rescale={rescale!r}: min must be below max, both finite", parameter="rescale")
        in_range = (lo, hi)
    if colormap_name is not None:
        if info.band_count != 1:
            raise InvalidParameter("colormap_name applies to single-band surveys only", parameter="colormap_name")
        if colormap_name not in colormap_names():
            raise InvalidParameter(
                f"no colour map {colormap_name!r} (e.g. rdylgn, greens, viridis)", parameter="colormap_name"
            )
    name = colormap_name or default_colormap_name(info)
    return in_range, (colormap(name) if name else None)
