"""The application: settings, the twin, the token store, and the factories mounted on them.

`uvicorn api.main:app` or `venue-twin serve` runs it; tests build their own with create_app().
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.auth import BEARER_SCHEME, TokenStore
from api.caching import Revalidation, cache_headers
from api.completion import CompletionFactory
from api.deps import PINNED_ROOT, PrincipalDep, VersionParams, public_url, twin_for
from api.errors import Unauthorized, add_exception_handlers
from api.evidence import EvidenceFactory
from api.features import FeaturesFactory, with_collection_paths
from api.hardening import SecurityHeaders
from api.health import HealthFactory
from api.intake import IntakeFactory
from api.layers_admin import LayersAdminFactory
from api.limits import BodyGuard
from api.maps import MapsFactory, mount_statics
from api.settings import ApiSettings
from api.surveys import SurveysFactory
from api.tiles import TilesFactory
from api.versions import VersionsFactory
from completion.settings import CompletionSettings
from twin import Twin
from twin.errors import ERROR_CODES
from web.assets import SWAGGER_UI_URL


def _openapi_30(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI writes OpenAPI 3.1; OGC clients and the oas30 conformance class want 3.0.

    The only 3.1 construct our routes produce is `anyOf: [X, {type: null}]` for optional
    values, which 3.0 spells as X with `nullable: true`.
    """

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            any_of = node.get("anyOf")
            if isinstance(any_of, list) and {"type": "null"} in any_of:
                rest = [fix(x) for x in any_of if x != {"type": "null"}]
                merged = {k: fix(v) for k, v in node.items() if k != "anyOf"}
                if len(rest) == 1:
                    merged.update(rest[0])
                else:
                    merged["anyOf"] = rest
                merged["nullable"] = True
                return merged
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    out = fix(schema)
    out["openapi"] = "3.0.3"
    return out  # type: ignore[no-any-return]


_PROBLEM = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "description": "An RFC 9457 problem: what is wrong, and the query parameter at fault if one is",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "parameter": {"type": "string"},
                "code": {
                    "type": "string",
                    "enum": list(ERROR_CODES),
                    "description": "What the error is, for a client to act on or word in its own language "
                    "(the detail, in English, may be reworded); absent for errors without one",
                },
            },
            "required": ["type", "title", "status", "detail"],
        }
    }
}
# The only operations that answer 422 (a file or batch with bad rows, every row named: api.intake).
_ROWS_422 = ("/projects/import", "/progress/import", "/progress")
_TIME_PARAMS = {"version", "asof", "datetime", "date"}
_FEATURES = "/collections/{collectionId}/items"
_FEATURE = "/collections/{collectionId}/items/{featureId}"
_FEATURE_FORMS = {
    "application/geo+json": {"schema": {"type": "object"}},
    "application/json": {"schema": {"type": "object"}},
    "text/html": {"schema": {"type": "string"}},
}


def _documented_responses(doc: dict[str, Any]) -> dict[str, Any]:
    """The responses the routes really give, where FastAPI's defaults said otherwise: its 422 (a
    validation error no route answers: a bad parameter is a 400 problem, api.errors) on every
    operation, no 400 or 404, `application/json` for features that are `application/geo+json` (OGC
    Part 1, /req/geojson/definition and /req/oas30/...), and 200 for a PUT or PATCH that answers 204.
    Clients generated from the definition (and checkers such as schemathesis) go by these."""

    def problem(description: str) -> dict[str, Any]:
        return {"description": description, "content": _PROBLEM}

    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if path in _ROWS_422 and "422" in responses:
                responses["422"] = problem("Bad rows, each named; nothing was committed")
            else:
                responses.pop("422", None)
            responses.setdefault("400", problem("A bad parameter or body, named"))
            params = {p.get("name") for p in op.get("parameters", []) if isinstance(p, dict)}
            if "{" in path or params & _TIME_PARAMS:
                responses.setdefault(
                    "404", problem("Not there: a collection, feature or version, or a date before the twin's history")
                )
            if method in ("post", "put", "patch", "delete"):
                responses.setdefault("401", problem("No bearer token, or an unknown or revoked one"))
                responses.setdefault("403", problem("The token's role may not do this"))
            if path == _FEATURE and method in ("put", "patch", "delete"):
                responses.setdefault(
                    "412",
                    problem(
                        "If-Match names a version of the feature that is no longer its own, or is no ETag this "
                        "service gave"
                    ),
                )
                responses.setdefault("409", problem("Another write took the feature's code or the feature meanwhile"))
                if method != "delete" and "200" in responses:
                    responses["204"] = {"description": "Written (or already so); the feature's new ETag is in ETag"}
                    del responses["200"]
            if path == _FEATURES and method == "post":
                responses.setdefault("303", {"description": "A CQL2 JSON body is a search: the GET with it as filter"})
            if method == "get" and path == "/diff" and "200" in responses:
                responses["200"]["content"] = {  # f=json types the same FeatureCollection as JSON
                    "application/geo+json": {"schema": {"type": "object"}},
                    "application/json": {"schema": {"type": "object"}},
                }
            if method == "get" and path in (_FEATURES, _FEATURE) and "200" in responses:
                responses["200"]["content"] = _FEATURE_FORMS
    return doc


def _with_security_scheme(doc: dict[str, Any]) -> dict[str, Any]:
    """The bearer scheme the writes name (api.auth.with_token), so Swagger UI offers to send a token."""
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {"bearer": BEARER_SCHEME}
    return doc


def _limit_bounds(doc: dict[str, Any], settings: ApiSettings) -> dict[str, Any]:
    """The items' `limit` as OGC Part 1 defines it (/req/core/fc-limit-definition): an integer from
    1 with the server's maximum and default. Clients size their pages from it (GDAL's OAPIF driver
    and QGIS read the maximum; without it they page 10 features at a time). The route checks the
    maximum itself, since it is a setting, so the definition takes it from the settings here."""
    op = doc.get("paths", {}).get("/collections/{collectionId}/items", {}).get("get", {})
    for param in op.get("parameters", []):
        if param.get("name") == "limit" and param.get("in") == "query":
            schema = {k: v for k, v in param.get("schema", {}).items() if k != "nullable"}
            schema.update(type="integer", minimum=1, maximum=settings.max_limit, default=settings.default_limit)
            param["schema"] = schema
    return doc


def _one_items_path(path: str) -> bool:
    """One collection's own items path (/collections/halls/items, api.features.with_collection_paths)."""
    return path.startswith("/collections/") and path.endswith("/items") and path.count("/") == 3


@dataclass(frozen=True)
class _Routers:
    all: tuple[APIRouter, ...]
    pinned_paths: frozenset[str]  # the reads a version-pinned root answers, relative to it


@functools.lru_cache(maxsize=4)
def _routers(completion_settings: str) -> _Routers:
    """The factories' routers, built once per process (for these completion settings, as JSON).

    Building them is FastAPI's analysis of every route's parameters (0.3-0.5 s, most of
    create_app); the routes keep no state of their own (the twin, tokens and settings are on
    app.state, which each request reads), so apps made later in the process (the tests make
    hundreds) include the same routers, which FastAPI includes without analysing them again.
    """
    completion = CompletionSettings(**orjson.loads(completion_settings))
    features = FeaturesFactory()
    # The same reads again under /versions/{versionId}/, as of that version (see FeaturesFactory).
    pinned_features = FeaturesFactory(pinned=True)
    return _Routers(
        all=(
            features.router,
            VersionsFactory().router,
            pinned_features.router,
            CompletionFactory(completion).router,
            IntakeFactory().router,
            EvidenceFactory(completion).router,
            LayersAdminFactory().router,
            TilesFactory().router,
            SurveysFactory().router,
            HealthFactory().router,
            MapsFactory().router,
        ),
        pinned_paths=frozenset(r.path.removeprefix(PINNED_ROOT) for r in pinned_features.router.routes),  # type: ignore[attr-defined]
    )


VersionIdPath = Annotated[str, Path(alias="versionId", description="A commit id (or unique prefix), HEAD or HEAD~n.")]


def create_app(settings: ApiSettings | None = None, twin: Twin | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A server lives long: the store builds its in-memory read structures now, beside the
        # first requests (which its queries answer meanwhile).
        app.state.twin.warm()
        yield
        if owns_twin:
            app.state.twin.close()

    owns_twin = twin is None
    app = FastAPI(
        title=settings.title,
        version="0.1.0",
        description="OGC API - Features over the versioned venue twin, with time travel on every read. "
        "Writes need a bearer token (Authorize, above); reads of a restricted layer take one too, and every "
        "read does where public reads are off.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.twin = twin or Twin.open(settings.store)
    app.state.tokens = TokenStore(app.state.twin)
    if os.environ.get("VENUE_TWIN_TOKENS"):
        # The setting is gone; say so rather than let a deployment's tokens vanish silently.
        logging.getLogger(__name__).warning(
            "VENUE_TWIN_TOKENS is no longer used: tokens live in the twin's store (only a token file "
            "beside the twin, <name>.tokens.sqlite, is imported); make them again with `venue-twin token create`"
        )
    add_exception_handlers(app)

    routers = _routers(CompletionSettings().model_dump_json())
    for router in routers.all:
        app.include_router(router)
    mount_statics(app)
    pinned_paths = routers.pinned_paths

    cached: dict[str, Any] = {}

    def _definition() -> dict[str, Any]:
        doc = _with_security_scheme(_documented_responses(_openapi_30(app.openapi())))
        return _limit_bounds(doc, settings)

    # /api is OGC's place for the definition; /openapi.json is where most tools look first.
    # Each collection the caller may read gets its own items path (with_collection_paths), so the
    # definition follows the layers and their schemas, and names no layer hidden from the caller.
    @app.api_route("/api", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/openapi.json", methods=["GET", "HEAD"], include_in_schema=False)
    def openapi_doc(request: Request, who: PrincipalDep) -> Response:
        if "doc" not in cached:
            cached["doc"] = _definition()
        try:
            layers = twin_for(request, who).layers()
        except Unauthorized:  # reads need a token: the definition itself is public, the layers are not
            layers = []
        doc = with_collection_paths(cached["doc"], layers)
        return Response(orjson.dumps(doc), media_type="application/vnd.oai.openapi+json;version=3.0")

    # A version-pinned root's definition, where GDAL looks for it (the service-desc link of
    # /versions/{versionId}/, or /versions/{versionId}/api): its reads and their limits, relative to
    # that root (its server). The root answers no writes, so the definition lists none.
    @app.api_route("/versions/{versionId}/api", methods=["GET", "HEAD"], include_in_schema=False)
    def pinned_openapi_doc(request: Request, who: PrincipalDep, version_id: VersionIdPath) -> Response:
        if "doc" not in cached:
            cached["doc"] = _definition()
        twin = twin_for(request, who)
        ref = VersionParams(version_id, in_path=True).resolve(twin)
        doc = with_collection_paths(cached["doc"], twin.layers(ref))
        reads = {path: {m: op for m, op in ops.items() if m == "get"} for path, ops in doc["paths"].items()}
        pinned = PINNED_ROOT.format(versionId=ref.commit.id if ref.commit else version_id)
        doc = {
            **doc,
            "servers": [{"url": public_url(request, pinned)}],
            "paths": {p: ops for p, ops in reads.items() if ops and (p in pinned_paths or _one_items_path(p))},
        }
        return Response(
            orjson.dumps(doc),
            media_type="application/vnd.oai.openapi+json;version=3.0",
            headers=cache_headers(version_id, ref),
        )

    # Interactive documentation: Swagger UI from its npm package (web/node_modules/swagger-ui-dist),
    # served by the app like Leaflet, so it works on a closed network. FastAPI's helper writes the
    # page; the validator badge (which would call validator.swagger.io) is switched off.
    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy at a sub-path
        return get_swagger_ui_html(
            openapi_url=f"{root}/api",
            title=f"{settings.title} — API",
            swagger_js_url=f"{root}{SWAGGER_UI_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI_URL}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None, "defaultModelsExpandDepth": 0},
        )

    # The address earlier releases linked as the documentation.
    @app.api_route("/api.html", methods=["GET", "HEAD"], include_in_schema=False)
    def api_html_moved(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/docs", status_code=301)

    app.add_middleware(Revalidation)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # outermost, so refusals (413, 4xx) carry the headers too and a page can read them
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Content-Crs",
                "If-Match",
                "If-None-Match",
                "X-Twin-Message",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Content-Crs",
                "Content-Disposition",
                "X-Twin-Commit",
                "X-Twin-Version",
            ],
            max_age=600,
        )
    hosts = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    if hosts and hosts != ["*"]:  # Starlette's own check: another Host is a 400 before any route runs
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    # Outermost, so every answer carries them: pages, JSON, downloads, refusals and errors alike.
    app.add_middleware(SecurityHeaders)
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn api.main:app` builds the app lazily, so importing this module opens nothing.
    if name == "app":
        return create_app()
    raise AttributeError(name)
