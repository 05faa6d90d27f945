"""Every error the API answers with, mapped to a status code in one place.

Bodies are RFC 9457 problem details (application/problem+json) that name what is wrong: the
`detail` in English, and for the errors a reader meets most a `code` saying what it is
(twin.errors.ERROR_CODES), which the error pages word in the reader's language from the error's
values, never from the detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match

from twin.errors import (
    BadInput,
    Conflict,
    Corrupt,
    NotFound,
    ReadOnly,
    StoreUnavailable,
    TooLarge,
    TwinError,
    ValidationFailed,
    coded,
    not_one_of_fields,
)


class ApiError(Exception):
    """``code`` and ``values``: what the error is as data, as a TwinError's (twin.errors.ERROR_CODES)."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter
        self.headers = headers or {}
        self.code, self.values = coded(code, values)

    @classmethod
    def of(cls, e: Exception, detail: str | None = None, *, parameter: str | None = None) -> ApiError:
        """The error ``e`` (a TwinError, or a ValueError) raised again as this one: its detail (by
        default ``e``'s message), and ``e``'s code and values carried over."""
        return cls(
            str(e) if detail is None else detail,
            parameter=parameter,
            code=getattr(e, "code", None),
            values=getattr(e, "values", None),
        )


class InvalidParameter(ApiError):
    status, title = 400, "Invalid parameter"

    @classmethod
    def not_one_of(
        cls, parameter: str, value: Any, allowed: Iterable[str], *, subject: str | None = None
    ) -> InvalidParameter:
        """``parameter``'s value not among those allowed: "f='xml' is not one of json, html" (``subject``
        "f=" by default, the parameter's name and "="), code not_one_of (twin.errors.not_one_of_fields)."""
        text, values = not_one_of_fields(f"{parameter}=" if subject is None else subject, value, allowed)
        return cls(text, parameter=parameter, code="not_one_of", values=values)


class NoDataThen(ApiError):
    """A read as of a time before the twin's first commit: it had no data then, which an empty
    answer would hide (it reads as "no features there")."""

    status, title = 404, "Not found"


class Unauthorized(ApiError):
    status, title = 401, "Unauthorized"

    def __init__(self, detail: str = "this needs a bearer token (Authorization: Bearer <token>)"):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="venue-twin"'})


class Forbidden(ApiError):
    status, title = 403, "Forbidden"


class PreconditionFailed(ApiError):
    status, title = 412, "Precondition failed"


class PayloadTooLarge(ApiError):
    status, title = 413, "Payload too large"


class UnsupportedMediaType(ApiError):
    status, title = 415, "Unsupported media type"


class NotAcceptable(ApiError):
    status, title = 406, "Not acceptable"


class Unavailable(ApiError):
    status, title = 503, "Service unavailable"


TWIN_STATUS: dict[type[TwinError], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    ValidationFailed: (400, "Invalid features"),
    BadInput: (400, "Bad input"),
    TooLarge: (413, "Payload too large"),  # a BadInput: looked up by the exception's class first
    Corrupt: (500, "Twin is corrupt"),
    # The service may only read its store (a file or directory its user cannot write, a read-only
    # mount): reads are served, an edit is refused naming why. Not the client's fault, and it does
    # not pass with a retry: the operator has to act.
    ReadOnly: (503, "Twin is read-only"),
    # The store's database does not answer (down, unreachable, its connections all busy) or the
    # twin's schema or tables are gone from it: every route says so as /health does, naming why,
    # promptly (twin.stores.postgis.CONNECTION_WAIT), and answers again once the database does.
    StoreUnavailable: (503, "Twin's database unavailable"),
}


STORE_RETRY_AFTER = 5  # seconds: a StoreUnavailable's Retry-After


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers)


# The rule, in one place (`answer`, which every handler below answers through): a request to a
# route that serves a page when asked (a PageRoute, or any route marked `pages`: api.deps) that asks
# for HTML (f=html, or a browser's Accept header) gets its 400 (a bad query parameter, typed into
# the address) as a page in the reader's language (web/error_page.py), with the same status and
# detail, and so does a 404 (a layer, feature or date the twin does not have); every other caller
# gets the JSON. A layer hidden from the caller is missing to them (twin.access), so its 404 page is
# the one a missing layer gets, word for word, as its JSON is. Refusals (401, 403) stay JSON: a
# browser cannot send the token they ask for.
PAGE_STATUSES = (400, 404)
_NOT_HTML = ("json", "geojson", "csv", "xlsx")  # an f that asks for data: the JSON problem


def wants_html(request: Request) -> bool:
    """Whether an error to this request is answered as a page rather than problem JSON."""
    from api.deps import prefers_html

    route = request.scope.get("route")
    # An address no route answers (a link mistyped into the address bar) is a page's 404 for a
    # browser too: the reader is offered the way home instead of JSON.
    if route is not None and not getattr(route, "pages", False):
        return False
    # Every f given: f twice (the 400 api.deps answers) with html among them asks for a page, not only
    # when html came last (the one query_params.get reads).
    asked = request.query_params.getlist("f")
    if "html" in asked:
        return True
    if any(f in _NOT_HTML for f in asked):
        return False
    return prefers_html(request)  # no f (or a bad one): a browser's Accept asks for HTML, a script's not


def answer(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    *,
    parameter: str | None = None,
    code: str | None = None,
    values: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Response:
    """An error as the page (`error_page`) when it is one of PAGE_STATUSES and the request
    `wants_html`, else as problem JSON: the one rule every exception handler answers by. ``extra``
    (a ValidationFailed's problems) goes in the JSON only."""
    if status in PAGE_STATUSES and wants_html(request):
        return error_page(request, status, detail, parameter, headers, code=code, values=values)
    return problem(status, title, detail, headers, parameter=parameter, code=code, **extra)


def _without(request: Request, parameter: str | None) -> list[tuple[str, str]]:
    """This request's query without the bad parameter (with none named: only f and lang kept)."""
    items = request.query_params.multi_items()
    if parameter:
        return [(k, v) for k, v in items if k != parameter]
    return [(k, v) for k, v in items if k in ("f", "lang")]


def error_page(
    request: Request,
    status: int,
    detail: str,
    parameter: str | None,
    headers: dict[str, str] | None = None,
    *,
    code: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    """The error as a page in the reader's language: `lang` when it is good, else their browser's."""
    from urllib.parse import urlencode

    from api.html import PAGE_LANG, is_ogc_page
    from web import i18n
    from web.error_page import bad_request_page

    asked = request.query_params.get("lang")
    path, root = request.url.path, request.scope.get("root_path", "")
    if asked in i18n.LANGS:
        lang = asked
    elif is_ogc_page(path[len(root) :] if root and path.startswith(root) else path):
        lang = PAGE_LANG  # as the OGC page it stands for would be (the maps' follow the browser)
    else:
        lang = i18n.norm_lang(None, request.headers.get("accept-language"))
    base = str(request.base_url).rstrip("/")

    def url(path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{base}{path}" + (f"?{query}" if query else "")

    def here(query: list[tuple[str, str]]) -> str:
        return f"{base}{request.url.path}" + (f"?{urlencode(query)}" if query else "")

    # A path's parameter (a tile's row that is no integer) has no query to be taken out of: the
    # page names only a parameter of the address's query.
    if parameter not in request.query_params:
        parameter = None
    kept = _without(request, parameter)
    # The same address again is no way on (a layer that is not there): then only home is offered.
    without = here(kept) if kept != request.query_params.multi_items() else None
    other = i18n.other_lang(lang)
    switch = here([*((k, v) for k, v in request.query_params.multi_items() if k != "lang"), ("lang", other)])
    body = bad_request_page(
        url,
        lang,
        status=status,
        detail=detail,
        code=code,
        values=values or {},
        parameter=parameter,
        without=without,
        switch=switch,
    )
    return HTMLResponse(body, status_code=status, headers={**(headers or {}), "Cache-Control": "no-cache"})


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return answer(
            request, exc.status, exc.title, exc.detail, exc.headers,
            parameter=exc.parameter, code=exc.code, values=exc.values,
        )  # fmt: skip

    @app.exception_handler(TwinError)
    async def _twin_error(request: Request, exc: TwinError) -> Response:
        for cls in type(exc).__mro__:
            if cls in TWIN_STATUS:
                status, title = TWIN_STATUS[cls]  # type: ignore[index]
                break
        else:
            status, title = 400, "Bad input"
        problems = None
        if isinstance(exc, ValidationFailed):
            problems = [{"layer": p.layer, "id": p.feature_id, "reason": p.reason} for p in exc.problems]
        # A database that does not answer may be back in seconds (a restart, a failover): say when to
        # try again, as HTTP clients and load balancers read it (RFC 9110 10.2.3)
        headers = {"Retry-After": str(STORE_RETRY_AFTER)} if isinstance(exc, StoreUnavailable) else None
        return answer(request, status, title, str(exc), headers, code=exc.code, values=exc.values, problems=problems)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI answers 422 by default; OGC API clients expect 400 naming the parameter.
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(x) for x in first.get("loc", ())]
        where = loc[0] if loc else "request"
        name = loc[-1] if len(loc) > 1 else where
        detail = f"{where} {name}: {first.get('msg', 'invalid')}" if loc else "invalid request"
        parameter = name if where in ("query", "path") else None
        code, values = None, None
        if first.get("type") == "bool_parsing" and parameter is not None:
            # pydantic's words ("Input should be a valid boolean") told neither the value nor the choices
            given = str(first.get("input", ""))
            detail = f"query parameter {parameter!r}: {given!r} is not true or false"
            code, values = "not_a_boolean", {"parameter": parameter, "value": given}
        return answer(request, 400, "Invalid parameter", detail, parameter=parameter, code=code, values=values)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        allowed = allowed_methods(request) if exc.status_code == 405 else None
        if allowed:
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        # Starlette's own words ("Method Not Allowed", "Not Found") name neither the method nor
        # the address: say which, and what the address does take.
        path = request.url.path
        if exc.status_code == 405:
            takes = f"; it takes {', '.join(allowed)}" if allowed else ""
            return problem(405, "Method not allowed", f"{request.method} is not allowed on {path}{takes}", headers)
        if exc.status_code == 404 and exc.detail == "Not Found":
            detail = f"no such address: {path} (the landing page, /, links to what this service offers)"
            return answer(request, 404, "Not found", detail, headers, code="no_address", values={"path": path})
        return answer(request, exc.status_code, "Error", str(exc.detail), headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path: each method is a route of its own, and
    Starlette's 405 names only the methods of the first route whose path matched."""
    scope = {k: v for k, v in request.scope.items() if k not in ("endpoint", "route", "path_params")}
    return [
        m
        for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in request.app.router.routes)
    ]
