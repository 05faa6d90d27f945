"""HTML views of the OGC API documents (the Part 1 HTML conformance class), for engineers to browse.

Each page is rendered from the document its JSON form answers with, through the app's one
template environment (web/templating.py, autoescaped; templates web/templates/ogc_*.html):
breadcrumbs from home, the JSON link, headings in the page's language (English unless
`lang=zh`). Items and item pages draw their features with the app's own Leaflet
(web/static/ogc-pages.js); the features ride in the page as JSON (the |tojson filter), never as
markup. Everything is read through the caller's view of the twin, so a hidden layer or commit
is not there to show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson
from fastapi import Query, Request
from starlette.responses import HTMLResponse

from api.caching import REVALIDATE
from api.deps import project_path, public_url
from completion.expo import opening_of
from completion.register import LAYER as PROJECTS_LAYER
from completion.schedule import checkpoints
from completion.settings import CompletionSettings
from completion.snapshot import today_local
from layers.catalogue import VENUE_BOUNDARY
from twin import Ref
from twin.access import TwinView
from twin.core import SHANGHAI, reference_fields
from twin.errors import NotFound
from twin.model import CommitInfo, FieldSpec, LayerSchema
from web import i18n
from web.assets import ogc_page_assets, versioned_url
from web.data import reference_names, reference_text, references_in
from web.templating import render

PAGE_LANG = "en"  # the OGC pages' language unless `lang` names another (GIS tools and their users read English)
# The OGC resources' paths (and their versioned roots'): an error met on one is a page in PAGE_LANG too.
_OGC_PAGE = re.compile(r"^(/versions/[^/]+)?/(conformance|collections)(/|$)")


def is_ogc_page(path: str) -> bool:
    """Whether `path` is one of the OGC resources these pages show (not a map or a report)."""
    return _OGC_PAGE.match(path) is not None


PageLang = Annotated[
    Literal["en", "zh"] | None,
    Query(description="The HTML page's language: en (default) or zh. JSON answers ignore it."),
]
RECENT_COMMITS = 15  # commits that changed the layer, offered by the version picker
LOG_SCAN = 200  # how far back the log is read to find them
FEATURE_VERSIONS = 30
# Parameters that name the version read or the place in the paging: the version picker replaces them.
_VERSION_PARAMS = ("version", "asof", "datetime", "offset", "cursor")


@dataclass(frozen=True)
class Crumb:
    label: str
    href: str | None  # None: the page itself
    kind: str  # home, collections, collection, items, feature, ... (for tests and styles)


@dataclass(frozen=True)
class VersionChoice:
    value: str
    label: str
    selected: bool = False


@dataclass
class VersionPicker:
    """A select of versions that reloads the page with ?version=..., keeping its other parameters."""

    action: str
    keep: list[tuple[str, str]]
    head: VersionChoice | None
    groups: list[tuple[str, list[VersionChoice]]] = field(default_factory=list)


class _Page:
    """One HTML page's language and its links (absolute, like the JSON documents' links)."""

    def __init__(self, request: Request, lang: str | None):
        self.request = request
        self.lang = lang or PAGE_LANG

    def t(self, key: str, **values: Any) -> str:
        return i18n.label(self.lang, key, **values)

    def url(self, path: str, **params: Any) -> str:
        return public_url(self.request, path, **params)

    def page(self, path: str, **params: Any) -> str:
        """The HTML form of `path`, in this page's language."""
        return public_url(self.request, path, **params, f="html", lang=self.lang)

    def this_with(self, **params: str | None) -> str:
        """This page's URL with `params` set (None removes one)."""
        return _with_params(str(self.request.url), **params)

    def crumbs(self, *trail: Crumb) -> list[Crumb]:
        return [Crumb(self.t("home"), self.page("/"), "home"), *trail]

    def collections_crumb(self) -> Crumb:
        return Crumb(self.t("collections"), self.page("/collections"), "collections")

    def layer_crumbs(self, schema: LayerSchema) -> list[Crumb]:
        base = f"/collections/{schema.name}"
        return [
            self.collections_crumb(),
            Crumb(i18n.layer_title(self.lang, schema), self.page(base), "collection"),
        ]

    def respond(
        self,
        template: str,
        *,
        title: str,
        crumbs: list[Crumb],
        json_href: str,
        json_label: str = "JSON",
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        # The last crumb is this page: not a link.
        trail = [*crumbs[:-1], Crumb(crumbs[-1].label, None, crumbs[-1].kind)]
        body = render(
            template,
            lang=self.lang,
            title=title,
            crumbs=trail,
            json_href=json_href,
            json_label=json_label,
            other_lang=self.this_with(lang="zh" if self.lang == "en" else "en"),
            assets=[{"kind": a.kind, "href": public_url(self.request, versioned_url(a))} for a in ogc_page_assets()],
            **context,
        )
        # A page lists the versions to pick from, which grow with every commit: even a page pinned to a
        # commit is revalidated, against the hash of its body (the middleware's ETag), not kept a year.
        kept = {k: v for k, v in (headers or {}).items() if k.lower() not in ("etag", "cache-control")}
        return HTMLResponse(body, headers={**kept, "Cache-Control": REVALIDATE})


def _with_params(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _local_time(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _cell(value: Any) -> str:
    """A property value as a table shows it (the template escapes it)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


@dataclass(frozen=True)
class Link:
    """A feature a reference field names: its name, its item page, the reference as stored."""

    text: str
    href: str
    reference: str


@dataclass(frozen=True)
class Value:
    """A property's cell: its text, and what its title says. A reference field's text names the
    features it references, each a link to its item page (``links``), the references as stored in
    its title, for engineers; a value the schema labels (a category, an area, a curve) is shown by
    its label in the page's language, the stored value in its title and ``code`` (as the layer
    check's table shows it)."""

    text: str
    title: str | None = None
    links: tuple[Link, ...] = ()
    code: str | None = None


def _reference_names(
    page: _Page, twin: TwinView, schema: LayerSchema, ref: Ref, records: list[dict[str, Any]], shown: set[str]
) -> dict[str, str]:
    """The names of the features the `shown` reference fields of `records` name (a register's
    `features`), as of `ref`, through the reader's view (web.data.reference_names: one read per
    layer referenced; a reference into a layer the reader may not see is not named)."""
    keys = [r for props in records for f in reference_fields(schema) if f in shown for r in references_in(props.get(f))]
    return reference_names(twin, keys, ref, page.lang) if keys else {}


def _value(
    page: _Page,
    spec: FieldSpec | None,
    value: Any,
    ref_fields: set[str],
    names: dict[str, str],
    pin: dict[str, str],
) -> Value:
    """A property as a page's table shows it: a reference field's by the names of the features it
    names, each linking its item page (of the version the page reads, ``pin``), the references as
    stored in its title (the downloads keep them as they are); a labelled value by its label
    (i18n.value_label, as the layer check's table), else as it is."""
    if spec is None or spec.name not in ref_fields:
        label = i18n.value_label(page.lang, spec, value)
        return Value(label, str(value), code=str(value)) if label else Value(_cell(value))
    shown = reference_text(value, names, page.lang)
    if shown is None:
        return Value("")
    links = []
    for r in references_in(value):
        if r in names:
            layer, _, fid = r.partition("/")
            href = page.page(f"/collections/{quote(layer, safe='')}/items/{quote(fid, safe='')}", **pin)
            links.append(Link(names[r], href, r))
    return Value(shown[0], shown[1], tuple(links))


def _geometry_label(page: _Page, geometry_type: str | None) -> str:
    return geometry_type if geometry_type else page.t("no_geometry")


# ---------------------------------------------------------------------------- capabilities
def conformance(request: Request, lang: str | None, doc: dict[str, Any]) -> HTMLResponse:
    page = _Page(request, lang)
    return page.respond(
        "ogc_conformance.html",
        title=page.t("conformance"),
        crumbs=page.crumbs(Crumb(page.t("conformance"), None, "conformance")),
        json_href=page.url("/conformance", f="json"),
        classes=doc["conformsTo"],
    )


def collections(request: Request, lang: str | None, doc: dict[str, Any]) -> HTMLResponse:
    page = _Page(request, lang)
    rows = [
        {
            "id": c["id"],
            "title": c["title"] if page.lang == "en" else c["twin:titleZh"],
            "other_title": c["twin:titleZh"] if page.lang == "en" else c["title"],
            "geometry": _geometry_label(page, c.get("twin:geometryType")),
            "href": page.page(f"/collections/{c['id']}"),
            "items_href": page.page(f"/collections/{c['id']}/items"),
            "queryables": page.page(f"/collections/{c['id']}/queryables"),
            "json": page.url(f"/collections/{c['id']}", f="json"),
        }
        for c in doc["collections"]
    ]
    return page.respond(
        "ogc_collections.html",
        title=page.t("collections"),
        crumbs=page.crumbs(page.collections_crumb()),
        json_href=page.url("/collections", f="json"),
        rows=rows,
    )


def _queryable_rows(page: _Page, doc: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, spec in doc["properties"].items():
        kind = spec.get("type") or spec.get("format", "")
        if spec.get("format") and spec.get("type"):
            kind = f"{spec['type']} ({spec['format']})"
        if name == "geometry":
            kind = spec.get("x-twin-geometryType") or spec.get("format", "")
        title = spec.get("title", "")
        if page.lang == "zh" and spec.get("description"):
            title = spec["description"]
        if name == "id":  # the twin's own field, not the layer's: its name is the pages' label
            title = page.t("feature_id")
        rows.append(
            {
                "name": name,
                "type": str(kind),
                "title": title,
                "allowed": ", ".join(map(str, spec.get("enum", []))),
                "unit": str(spec.get("x-ogc-unit", "")),
            }
        )
    return rows


# the collection document's links, named on the page in its language (the JSON keeps its English titles)
_LINK_LABELS = {
    "http://www.opengis.net/def/rel/ogc/1.0/queryables": "queryables",
    "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector": "vector_tilesets",
    "describedBy": "feature_schema",
}


def _format_label(page: _Page, link: dict[str, Any]) -> str:
    fmt = dict(parse_qsl(urlsplit(link["href"]).query)).get("f", "")
    return page.t(f"format_{fmt}") if i18n.has_label(f"format_{fmt}") else str(link.get("title", fmt))


def collection(
    request: Request,
    lang: str | None,
    doc: dict[str, Any],
    schema: LayerSchema,
    queryables_doc: dict[str, Any],
    count: int,
) -> HTMLResponse:
    page = _Page(request, lang)
    start, end = doc["extent"]["temporal"]["interval"][0]
    base = f"/collections/{schema.name}"
    downloads = [
        {**lk, "title": page.t("download_as", format=_format_label(page, lk))}
        for lk in doc["links"]
        if lk["rel"] == "enclosure"
    ]
    skip = {"self", "alternate", "items", "enclosure"}
    other = [
        {**lk, "title": page.t(_LINK_LABELS[lk["rel"]]) if lk["rel"] in _LINK_LABELS else lk.get("title")}
        for lk in doc["links"]
        if lk["rel"] not in skip and lk.get("type") != "text/html"
    ]
    return page.respond(
        "ogc_collection.html",
        title=i18n.layer_title(page.lang, schema),
        crumbs=page.crumbs(*page.layer_crumbs(schema)),
        json_href=page.url(base, f="json"),
        doc=doc,
        other_title=schema.title_zh if page.lang == "en" else schema.title_en,
        description=i18n.description_in(page.lang, schema.description),
        bbox=[f"{v:.5f}" for v in doc["extent"]["spatial"]["bbox"][0]] if schema.spatial else None,
        first_time=_local_time(datetime.fromisoformat(start.replace("Z", "+00:00"))) if start else None,
        end_time=end,
        geometry=_geometry_label(page, doc.get("twin:geometryType")),
        count=count,
        items_href=page.page(base + "/items"),
        queryables_href=page.page(base + "/queryables"),
        layer_check_href=page.url(f"/maps/layers/{schema.name}", lang=page.lang),
        queryables=_queryable_rows(page, queryables_doc),
        downloads=downloads,
        other_links=other,
    )


def queryables(request: Request, lang: str | None, doc: dict[str, Any], schema: LayerSchema) -> HTMLResponse:
    page = _Page(request, lang)
    title = page.t("queryables_of", layer=i18n.layer_title(page.lang, schema))
    return page.respond(
        "ogc_queryables.html",
        title=title,
        crumbs=page.crumbs(*page.layer_crumbs(schema), Crumb(page.t("queryables"), None, "queryables")),
        json_href=page.url(f"/collections/{schema.name}/queryables", f="json"),
        queryables=_queryable_rows(page, doc),
    )


# ---------------------------------------------------------------------------- features
def _read_at(page: _Page, ref: Ref) -> str | None:
    c = ref.commit
    return page.t("read_at", id=c.id[:12], time=_local_time(c.time)) if c else None


def _commit_choice(c: CommitInfo, current: Ref, lang: str, note: str = "") -> VersionChoice:
    text = i18n.commit_message(lang, c.message)  # a withheld one in the page's language
    message = text if len(text) <= 60 else text[:59] + "…"
    label = " · ".join(x for x in (_local_time(c.time), c.id[:8], note, message) if x)
    return VersionChoice(c.id, label, current.commit is not None and current.commit.id == c.id)


def _picker(
    page: _Page,
    current: Ref,
    named: bool,
    groups: list[tuple[str, list[CommitInfo], dict[str, str]]],
    head_exists: bool = True,
) -> VersionPicker:
    """The version select: HEAD, then each group of commits (with a note per commit id), the version
    read marked; one version read that no group lists is offered at the top, so the select says it."""
    keep = [(k, v) for k, v in page.request.query_params.multi_items() if k not in (*_VERSION_PARAMS, "f", "lang")]
    keep += [("f", "html"), ("lang", page.lang)]
    picker = VersionPicker(
        action=page.request.url.path,
        keep=keep,
        head=VersionChoice("HEAD", page.t("version_head"), not named) if head_exists else None,
    )
    listed = False
    for label, commits, notes in groups:
        choices = []
        for c in commits:
            choice = _commit_choice(c, current, page.lang, notes.get(c.id, ""))
            # The version read is marked once, in the first group that lists it (and not when it is HEAD).
            selected = choice.selected and named and not listed
            listed = listed or choice.selected
            choices.append(VersionChoice(choice.value, choice.label, selected))
        if choices:
            picker.groups.append((label, choices))
    if named and not listed and current.commit is not None:
        picker.groups.insert(0, (page.t("version"), [_commit_choice(current.commit, current, page.lang)]))
    return picker


def _checkpoint_commits(twin: TwinView) -> tuple[list[CommitInfo], dict[str, str]]:
    """The commit each past checkpoint of this expo reads (newest first), and its checkpoint label:
    the expo today is measured against, as a T-30 in ``date=`` is (completion.expo)."""
    head, first = twin.head(), twin.first_commit()
    if head is None or first is None:
        return [], {}
    settings = CompletionSettings()
    today = today_local()
    opening = opening_of(twin, today, settings)
    found: list[CommitInfo] = []
    notes: dict[str, str] = {}
    for cp in reversed(checkpoints(opening, first.time.astimezone(SHANGHAI).date(), settings.checkpoint_days)):
        if cp.on > today:
            continue
        c = twin.resolve(asof=cp.on.isoformat()).commit
        if c is None:
            continue
        if c.id in notes:  # a quiet stretch: several checkpoints read one commit
            notes[c.id] = f"{cp.label}, {notes[c.id]}"
            continue
        found.append(c)
        notes[c.id] = cp.label
    return found, notes


def _named(page: _Page) -> bool:
    return any(k in page.request.query_params for k in ("version", "asof", "datetime"))


def _geojson(doc: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": doc["id"], "geometry": doc["geometry"], "properties": doc.get("properties") or {}}


def _context(twin: TwinView, schema: LayerSchema, ref: Ref) -> list[dict[str, Any]]:
    """The venue's outline under the map, so a page of features shows where on the site they are."""
    if schema.name == VENUE_BOUNDARY.name or not schema.spatial:
        return []
    try:
        found = twin.features(VENUE_BOUNDARY.name, ref)
    except NotFound:  # not in the caller's view (or not in this twin): no outline
        return []
    out = []
    for b in found.features:
        d = orjson.loads(b)
        if d.get("geometry") is not None:
            out.append({"type": "Feature", "id": d["id"], "geometry": d["geometry"], "properties": {}})
    return out


def _columns(page: _Page, schema: LayerSchema) -> list[dict[str, str]]:
    selected = page.request.query_params.get("properties")
    names = [p.strip() for p in selected.split(",")] if selected is not None else None
    return [
        {"name": f.name, "title": i18n.field_title(page.lang, f)}
        for f in schema.fields
        if names is None or f.name in names
    ]


def items(
    request: Request,
    lang: str | None,
    twin: TwinView,
    schema: LayerSchema,
    meta: dict[str, Any],
    features: list[bytes],
    ref: Ref,
    offset: int | None,
    headers: dict[str, str],
) -> HTMLResponse:
    """A page of features: its map, its table, the paging links and the version picker.

    `features` are in storage lon/lat (the map's), whatever `crs` the JSON form would use;
    `offset` is None when the page was read from a cursor."""
    page = _Page(request, lang)
    decoded = [orjson.loads(b) for b in features]
    base = f"/collections/{schema.name}"
    columns = _columns(page, schema)
    pin = {"version": ref.commit.id} if _named(page) and ref.commit else {}
    # the features the shown reference fields name, by name: one ask for the whole page
    refs = set(reference_fields(schema)) & {c["name"] for c in columns}
    names = _reference_names(page, twin, schema, ref, [d.get("properties") or {} for d in decoded], refs)
    rows = [
        {
            "id": str(d["id"]),
            "href": page.page(f"{base}/items/{quote(str(d['id']), safe='')}", **pin),
            "cells": [
                _value(page, schema.field(c["name"]), (d.get("properties") or {}).get(c["name"]), refs, names, pin)
                for c in columns
            ],
            "name": i18n.feature_name(page.lang, d.get("properties") or {}),
        }
        for d in decoded
    ]
    paging = {
        rel: _with_params(lk["href"], f="html", lang=page.lang)
        for lk in meta["links"]
        if (rel := lk["rel"]) in ("next", "prev")
    }
    returned, matched = meta["numberReturned"], meta["numberMatched"]
    if not matched:
        summary = page.t("items_none")
    elif offset is not None and returned:
        summary = page.t("items_range", first=offset + 1, last=offset + returned, matched=matched)
    else:
        summary = page.t("items_returned", returned=returned, matched=matched)
    log = [c for c in twin.log(LOG_SCAN) if schema.name in c.counts][:RECENT_COMMITS]
    cps, notes = _checkpoint_commits(twin)
    picker = _picker(
        page,
        ref,
        _named(page),
        [(page.t("versions_of_layer"), log, {}), (page.t("checkpoints"), cps, notes)],
    )
    query = [(k, v) for k, v in request.query_params.multi_items() if k in ("filter", "bbox", "sortby", "properties")]
    spatial = [_geojson(d) for d in decoded if d.get("geometry") is not None]
    return page.respond(
        "ogc_items.html",
        title=i18n.layer_title(page.lang, schema),
        crumbs=page.crumbs(*page.layer_crumbs(schema), Crumb(page.t("items"), None, "items")),
        json_href=page.this_with(f="geojson", lang=None),
        json_label=page.t("geojson"),
        headers=headers,
        schema_name=schema.name,
        columns=columns,
        rows=rows,
        summary=summary,
        paging=paging,
        picker=picker,
        read_at=_read_at(page, ref),
        query=query,
        spatial=schema.spatial,
        features={"type": "FeatureCollection", "features": spatial},
        context={"type": "FeatureCollection", "features": _context(twin, schema, ref) if spatial else []},
    )


def item(
    request: Request,
    lang: str | None,
    twin: TwinView,
    schema: LayerSchema,
    feature: dict[str, Any],
    ref: Ref,
    headers: dict[str, str],
) -> HTMLResponse:
    """One feature: its map, its properties (the schema's fields first), its versions."""
    page = _Page(request, lang)
    fid = str(feature["id"])
    base = f"/collections/{schema.name}"
    props = feature.get("properties") or {}
    known = {f.name for f in schema.fields}
    refs = set(reference_fields(schema))
    names = _reference_names(page, twin, schema, ref, [props], refs)
    pin = {"version": ref.commit.id} if _named(page) and ref.commit else {}
    fields = [
        {
            "name": f.name,
            "title": i18n.field_title(page.lang, f),
            "value": _value(page, f, props.get(f.name), refs, names, pin),
        }
        for f in schema.fields
        if f.name in props
    ]
    extra = [{"name": k, "title": "", "value": Value(_cell(v))} for k, v in props.items() if k not in known]
    versions = sorted(twin.history(schema.name, fid), key=lambda h: h.commit.seq, reverse=True)
    exists_at_head = bool(versions) and versions[0].op != "delete"
    made = [h.commit for h in versions if h.op != "delete"][:FEATURE_VERSIONS]
    notes = {h.commit.id: page.t(f"op_{h.op}") for h in versions if h.op != "delete"}
    picker = _picker(page, ref, _named(page), [(page.t("versions_of_feature"), made, notes)], exists_at_head)
    name = i18n.feature_name(page.lang, props)
    return page.respond(
        "ogc_item.html",
        title=f"{name} ({fid})" if name else fid,
        crumbs=page.crumbs(
            *page.layer_crumbs(schema),
            Crumb(page.t("items"), page.page(f"{base}/items", **pin), "items"),
            Crumb(fid, None, "feature"),
        ),
        json_href=page.this_with(f="geojson", lang=None),
        json_label=page.t("geojson"),
        headers=headers,
        schema_name=schema.name,
        feature_id=fid,
        fields=fields,
        extra=extra,
        picker=picker,
        read_at=_read_at(page, ref),
        history_href=page.url(f"{base}/items/{quote(fid, safe='')}/history"),
        # a project record's page leads to the project's own page (its status, forecast and reports),
        # which a leader reads, of the same version when the page names one
        project_href=page.page(project_path(str(props.get("code") or fid)), **pin)
        if schema.name == PROJECTS_LAYER
        else None,
        spatial=feature.get("geometry") is not None,
        features={"type": "FeatureCollection", "features": [_geojson(feature)] if feature.get("geometry") else []},
        context={"type": "FeatureCollection", "features": _context(twin, schema, ref)},
    )
