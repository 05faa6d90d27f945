"""Dependencies shared by the API's routes: the twin, the caller, versions, formats, strict parameters.

The dependencies are `async` where they touch no store: FastAPI runs a plain `def` dependency in
its thread pool, and each such hop costs about as much as a small read (measured with
`python -m bench.api_bench`). What does touch a store (a token's look-up) goes to the pool
itself, and so do the routes that read the twin (they are plain `def`): no store call that could
wait runs on the event loop (the one exception, a single feature from a local file, is explained
in api/features.py).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import ANONYMOUS, Principal, TokenStore
from api.errors import Forbidden, InvalidParameter, NoDataThen, NotAcceptable, Unauthorized
from api.settings import ApiSettings
from completion.snapshot import checkpoint_asof, is_checkpoint
from twin import Ref, Twin
from twin.access import TwinView
from twin.core import SHANGHAI, no_data
from twin.errors import BadInput, NotFound
from twin.model import LayerSchema
from twin.validation import text_limits, text_why


def header_text(value: str | None) -> str | None:
    """A header's text as its sender wrote it. HTTP carries header values as bytes, which Starlette
    reads as latin-1: a UTF-8 `X-Twin-Message: 修复` (what curl sends) became "ä¿®å¤" and stayed
    so in the history for good. Bytes that are UTF-8 are read as UTF-8; others stay latin-1."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def message_header(value: str | None) -> str | None:
    """An X-Twin-Message header's text (header_text), refused (400 naming the header, before any
    body is read) if no commit could carry it: a control character, or more than
    VENUE_TWIN_MESSAGE_MAX_CHARS characters (a 60 KB header was the commit's message)."""
    text = header_text(value)
    if text:
        why = text_why("X-Twin-Message", text, True, text_limits().message, "VENUE_TWIN_MESSAGE_MAX_CHARS")
        if why is not None:
            raise BadInput(why.text)
    return text


def add_get_route(router: APIRouter, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
    """A GET route that answers HEAD too (HEAD kept out of the OpenAPI document, which would
    otherwise list every read twice under clashing operation ids)."""
    router.add_api_route(path, endpoint, methods=["GET"], **kwargs)
    router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, **kwargs)


class StrictQueryRoute(APIRoute):
    """A route that answers 400 naming any query parameter it does not declare.

    OGC API clients rely on this to learn that a parameter (say a misspelt `bbox`) was not
    applied, instead of silently getting unfiltered data.
    """

    # The endpoint takes names it does not declare as well (PropertyQueryRoute), and judges them.
    open_names = False
    # The route is mounted under a version-pinned root (PINNED_ROOT): its path names the version.
    pins_version = False
    # Said after "unknown query parameter X", by name (the OGC documents: where time travel is).
    hints: ClassVar[Mapping[str, str]] = {}
    # The route answers a reader with a page when asked (f=html, or a browser's Accept header): its
    # errors are pages too (api.errors.wants_html). A PageRoute, or route_class(base, pages=True).
    pages = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = _query_names(self.dependant)

        async def strict(request: Request) -> Response:
            if self.open_names:  # for undeclared_query, in the endpoint
                request.state.declared_query = allowed
            for key in request.query_params:
                if self.pins_version and key in ("version", "asof"):
                    raise InvalidParameter(
                        f"{key}: this address reads the twin as of the version its path names "
                        f"({PINNED_ROOT.format(versionId=request.path_params['versionId'])}/...); "
                        f"give no {key} beside it",
                        parameter=key,
                    )
                if key not in allowed and not self.open_names:
                    takes = ", ".join(sorted(allowed)) or "no query parameters"
                    hint = f". {self.hints[key]}" if key in self.hints else ""
                    raise InvalidParameter(
                        f"unknown query parameter {key!r}; this endpoint takes {takes}{hint}",
                        parameter=key,
                        code="unknown_parameter" if allowed else "unknown_parameter_none",
                        values={"parameter": key, "takes": takes} if allowed else {"parameter": key},
                    )
                # Each parameter takes one value: of two, one would be dropped without a word.
                if (n := len(request.query_params.getlist(key))) > 1:
                    raise InvalidParameter(
                        f"query parameter {key!r} is given {n} times; give it once",
                        parameter=key,
                        code="repeated_parameter",
                        values={"parameter": key, "times": n},
                    )
            return await handler(request)

        return strict


class PropertyQueryRoute(StrictQueryRoute):
    """A StrictQueryRoute whose endpoint also takes a collection's properties as parameters
    (`?kind=lawn`, OGC API - Features Part 1's filters on properties, which GDAL's OAPIF driver
    sends for a `-where` on a field). The endpoint refuses the names that are no property of its
    collection, once it has the collection: a hidden collection answers 404 whatever is asked of it."""

    open_names = True


def undeclared_query(request: Request) -> dict[str, str]:
    """The query parameters a PropertyQueryRoute's endpoint does not declare, by name."""
    declared: set[str] = request.state.declared_query
    return {k: v for k, v in request.query_params.items() if k not in declared}


class PageRoute(StrictQueryRoute):
    """A page's route (`add_page_route`): a reader asking it for HTML gets its errors as pages.

    The mark only (`pages`); api/errors.py (`wants_html`) decides what a marked route's error is
    answered with. Routes of another class that also serve pages set `pages` (route_class).
    """

    pages = True


# The root under which api.features mounts its reads a second time, as of the version it names
# (a commit id, a unique prefix, HEAD or HEAD~n): `OAPIF:http://host/versions/HEAD~3` opens the
# twin as it was then in GDAL and QGIS, which keep a service's query string out of the links they follow.
PINNED_ROOT = "/versions/{versionId}"


def route_class(base: type[StrictQueryRoute], **attrs: Any) -> type[StrictQueryRoute]:
    """`base` with some of its class attributes set (pins_version, hints, pages): a route class of its own,
    which its routes keep when their router is included in the app."""
    return type(base.__name__, (base,), attrs)


def pinned_version(request: Request) -> str | None:
    """The version a version-pinned route's path names, as given (HEAD~3, say); None elsewhere."""
    if getattr(request.scope.get("route"), "pins_version", False):
        return request.path_params["versionId"]  # type: ignore[no-any-return]
    return None


def add_page_route(router: APIRouter, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
    """A page's GET (and HEAD) route: one that answers a reader with a page, or (/brief) a file to print."""
    add_get_route(router, path, endpoint, route_class_override=PageRoute, **kwargs)


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def whole_twin(request: Request) -> Twin:
    """The twin itself, unfiltered: for the app's own plumbing only, never a route's answer."""
    return request.app.state.twin  # type: ignore[no-any-return]


def get_tokens(request: Request) -> TokenStore:
    return request.app.state.tokens  # type: ignore[no-any-return]


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    if authorization is None:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    who = await run_in_threadpool(get_tokens(request).verify, token.strip())  # a store read
    if who is None:
        raise Unauthorized("this token is unknown or revoked")
    return who


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _may_read(request: Request, who: Principal) -> Principal:
    """The service's read rule: with public reads off, every read needs a token (viewer or above)."""
    if who.role is None and not get_settings(request).public_reads:
        raise Unauthorized("reads on this service need a token")
    return who


async def get_twin(request: Request, who: PrincipalDep) -> TwinView:
    """The twin as the caller may see it: every route reads and writes through this view, so the
    read rule and the visibility rule (twin.access) hold on every answer, page, download and tile.
    One dependency for both, not one each: every dependency FastAPI solves costs a request about
    as much as reading a feature (measured with `python -m bench.api_bench`)."""
    return twin_for(request, who)


def twin_for(request: Request, who: Principal) -> TwinView:
    """get_twin's view, for the app's routes that take the caller as PrincipalDep (Unauthorized when
    reads need a token and the caller has none)."""
    return whole_twin(request).for_role(_may_read(request, who).role)


TwinDep = Annotated[TwinView, Depends(get_twin)]
CollectionId = Annotated[str, Path(alias="collectionId", description="A layer (collection) id.")]


async def reader(request: Request, principal: PrincipalDep) -> Principal:
    """The caller, once the read rule lets them read: for routes that need to know who reads
    (a route that takes TwinDep has the rule applied already)."""
    return _may_read(request, principal)


def a_role(role: str | None) -> str:
    """'a viewer', 'an engineer', 'an editor', 'an admin': a role as a 403 names it."""
    role = role or "anonymous caller"
    return f"{'an' if role[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {role}"


async def editor(principal: PrincipalDep) -> Principal:
    if principal.role is None:
        raise Unauthorized()
    if not principal.at_least("editor"):
        raise Forbidden(f"{principal.name} is {a_role(principal.role)}; edits need the editor role")
    return principal


async def admin(principal: PrincipalDep) -> Principal:
    if principal.role is None:
        raise Unauthorized()
    if not principal.at_least("admin"):
        raise Forbidden(f"{principal.name} is {a_role(principal.role)}; layer administration needs the admin role")
    return principal


ReaderDep = Annotated[Principal, Depends(reader)]
EditorDep = Annotated[Principal, Depends(editor)]
AdminDep = Annotated[Principal, Depends(admin)]


def collection_of(twin: TwinView, name: str, ref: Ref | None = None) -> LayerSchema:
    """The collection `name` as the caller's view has it (now, or as of `ref`); a layer hidden from
    the caller is missing, not forbidden (a 403 would say that it exists)."""
    try:
        return twin.layer(name, ref)
    except NotFound:
        raise NotFound(f"no collection {name!r}", code="no_collection", values={"collection": name}) from None


@dataclass
class VersionParams:
    """Time travel on every read: a commit id (or HEAD~n) or a timestamp, as query parameters, or
    the version a pinned root's path names (`in_path`)."""

    version: Annotated[str | None, Query(description="A commit id (or unique prefix), HEAD or HEAD~n.")] = None
    asof: Annotated[
        str | None, Query(description="An RFC 3339 time, a date (end of that day in Shanghai) or a checkpoint (T-30).")
    ] = None
    in_path: bool = False

    def resolve(self, twin: TwinView, datetime_instant: str | None = None) -> Ref:
        """The version to read; a version parameter that does not resolve is a bad parameter (400),
        not a 404. A path's version is a resource as /versions/{versionId} is: one that is not
        there is a 404, one that is no version at all a 400."""
        if self.in_path:
            if datetime_instant is not None:
                raise InvalidParameter(
                    f"datetime: this address reads the twin as of the version its path names "
                    f"({PINNED_ROOT.format(versionId=self.version)}/...); give no datetime beside it",
                    parameter="datetime",
                )
            return resolve_version(twin, self.version, in_path=True)
        if datetime_instant is not None:
            if self.version is not None or self.asof is not None:
                raise InvalidParameter("give one of datetime, version or asof", parameter="datetime")
            try:
                return before_history(twin, twin.resolve(asof=datetime_instant), datetime_instant, "datetime")
            except (BadInput, NotFound) as e:
                raise InvalidParameter.of(e, f"datetime: {e}", parameter="datetime") from None
        if self.version is not None and self.asof is None:
            return resolve_version(twin, self.version)
        try:
            asof = self.asof
            if asof is not None and is_checkpoint(asof):  # asof=T-30, as date= and /diff?from= take it
                asof = checkpoint_asof(twin, asof)
            ref = twin.resolve(self.version, asof)
        except (BadInput, NotFound) as e:
            name = "version" if self.version is not None else "asof"
            raise InvalidParameter.of(e, f"{name}: {e}", parameter=name) from None
        return ref if self.asof is None else before_history(twin, ref, self.asof, "asof")


def resolve_version(twin: TwinView, version: str | None, parameter: str = "version", *, in_path: bool = False) -> Ref:
    """The commit a version names (a commit id or prefix, HEAD or HEAD~n), alike on every route that
    takes one. HEAD~n back to or past the first commit is before the history (404 no_data_then, as
    an as-of time before it is), not the empty twin: HEAD~106 of 106 commits answered 200 with no
    features on the items and 400 "no commits yet" on /versions/HEAD~106. An id that names no commit
    is "<parameter>: no commit <id>" everywhere: 400 as a parameter (`version=`, the README's rule),
    404 in a path (`in_path`: /versions/{id} and the roots under it, resources that are not there)."""
    try:
        ref = twin.resolve(version)
    except NotFound as e:
        if version is not None and version.upper().startswith("HEAD~"):
            raise before_the_first(twin, version, parameter) from None
        if in_path:
            raise NotFound(f"{parameter}: {e}") from None
        raise InvalidParameter.of(e, f"{parameter}: {e}", parameter=parameter) from None
    except BadInput as e:
        raise InvalidParameter.of(e, f"{parameter}: {e}", parameter=parameter) from None
    if ref.commit is None and version is not None and version.upper() != "HEAD" and twin.first_commit() is not None:
        raise before_the_first(twin, version, parameter)
    return ref


def before_the_first(twin: TwinView, version: str, parameter: str) -> NoDataThen:
    first = twin.first_commit()
    since = first.time.astimezone(SHANGHAI).date().isoformat() if first is not None else ""
    where = f"commit {first.id[:12]} (HEAD~{twin.commit_count() - 1}) on {since}" if first is not None else "no commit"
    return NoDataThen(
        f"{parameter}: {version} is before the twin's history, which starts with {where}",
        parameter=parameter,
        code="no_data_then",
        values={"when": version, "since": since},
    )


def before_history(twin: TwinView, ref: Ref, when: str, parameter: str) -> Ref:
    """`ref`, read as of the time `when`; a time before the caller's first commit answers 404
    naming the parameter and when the data starts (twin.core.no_data), not an empty
    collection that reads as "nothing there". (`version=HEAD~n` back to the empty twin names that
    version, not a date.)"""
    why = no_data(twin, ref.seq, when)
    if why is not None:
        raise NoDataThen(f"{parameter}: {why.text}", parameter=parameter, code="no_data_then", values=why.values)
    return ref


async def version_params(
    request: Request,
    version: Annotated[str | None, Query(description="A commit id (or unique prefix), HEAD or HEAD~n.")] = None,
    asof: Annotated[
        str | None, Query(description="An RFC 3339 time, a date (end of that day in Shanghai) or a checkpoint (T-30).")
    ] = None,
) -> VersionParams:
    # A function, not the dataclass itself as the dependency: FastAPI would call the class in its
    # thread pool (it is not a coroutine), one more hop on every read.
    if (pinned := pinned_version(request)) is not None:
        return VersionParams(pinned, in_path=True)  # the route refused version and asof beside it
    return VersionParams(version, asof)


VersionDep = Annotated[VersionParams, Depends(version_params)]
# OGC's name for reading as of an instant, beside version= and asof= on every read (VersionParams.resolve
# takes it); the items route reads its own, which may also be an interval.
DatetimeParam = Annotated[
    str | None, Query(alias="datetime", description="An instant: the twin as of then (as asof= reads it).")
]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The media type of each form a route may give (`negotiate` finds a download's in the Accept header).
FORMAT_TYPES = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "html": "text/html",
    "csv": "text/csv",
    "xlsx": XLSX,
}


# The f of a route that answers one form (JSON) however it is asked: clients append f=json to every
# OGC resource, and a route refusing it as an unknown parameter broke them. Any other f is refused
# naming the forms the route takes (`check_form`), as `negotiate` refuses one.
JsonFormParam = Annotated[str | None, Query(description="json, the one form this answers (optional)")]


def check_form(f: str | None, allowed: tuple[str, ...] = ("json",)) -> str | None:
    """`f` when it is one of `allowed` (or not given: None); InvalidParameter naming them otherwise."""
    if f is not None and f not in allowed:
        raise InvalidParameter.not_one_of("f", f, allowed)
    return f


def negotiate(request: Request, f: str | None, allowed: tuple[str, ...], default: str = "json") -> str:
    """The response format: `f` wins, then the Accept header, then the default.

    Of the Accept header: HTML where it prefers HTML to JSON (`prefers_html`); a download (CSV,
    Excel: a form of `allowed` other than JSON and HTML) where it names that form's media type
    itself, weighed no lower than JSON (the best weighed of them, the first allowed on a tie); the
    default where it takes JSON (a JSON type, application/* or */*); else 406."""
    form = check_form(f, allowed)
    if form is not None:
        return form
    accept = request.headers.get("accept", "")
    ranges = _media_ranges(accept)
    if not ranges:
        return default
    if "html" in allowed and _html_wins(ranges):
        return "html"
    json_q = _quality(ranges, lambda m: "json" in m, "application/")[0]
    downloads = [(k, max((q for m, q in ranges if m == FORMAT_TYPES.get(k)), default=0.0)) for k in allowed]
    named = [(k, q) for k, q in downloads if "json" not in k and k != "html" and q > 0 and q >= json_q]
    if named:
        return max(named, key=lambda kq: kq[1])[0]  # max keeps the first of equals
    if json_q > 0:
        return default
    raise NotAcceptable(f"cannot answer {accept}; this endpoint gives {', '.join(allowed)}")


def prefers_html(request: Request) -> bool:
    """Whether the Accept header prefers an HTML page to JSON (negotiate's rule, for routes that
    also offer other forms, such as CSV)."""
    return _html_wins(_media_ranges(request.headers.get("accept", "")))


def _html_wins(ranges: list[tuple[str, float]]) -> bool:
    # HTML as the Accept header weighs it, and JSON as its best JSON type or wildcard:
    # `application/json, text/html;q=0.5` prefers JSON, `text/html;q=0` refuses HTML.
    html_q, html_exact = _quality(ranges, lambda m: m == "text/html", "text/")
    json_q, _ = _quality(ranges, lambda m: "json" in m, "application/")
    return html_q > 0 and (html_q > json_q or (html_exact and html_q == json_q))


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q values (1 when not given)."""
    out = []
    for part in accept.split(","):
        media, *params = (x.strip() for x in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        out.append((media.lower(), q))
    return out


def _quality(ranges: list[tuple[str, float]], exact: Callable[[str], bool], family: str) -> tuple[float, bool]:
    """The q the most specific matching range gives (a type, then type/*, then */*), and whether
    a type itself matched."""
    for match, is_exact in ((exact, True), (lambda m: m == family + "*", False), (lambda m: m == "*/*", False)):
        qs = [q for m, q in ranges if match(m)]
        if qs:
            return max(qs), is_exact
    return 0.0, False


def project_path(code: str, *rest: str) -> str:
    """A project's path (/projects/{code}/...), its code percent-encoded: a code may hold '#', '?',
    '%' or a space, which would otherwise end or bend the path."""
    return "/".join(("/projects", quote(code, safe=""), *rest))


def public_url(request: Request, path: str, **params: Any) -> str:
    from urllib.parse import urlencode

    base = str(request.base_url).rstrip("/")
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base}{path}" + (f"?{query}" if query else "")
