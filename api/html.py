"""Plain HTML views of the OGC API documents (the Part 1 HTML conformance class).

Deliberately small: every value is escaped, nothing is fetched from outside, and each page
links to its JSON form. The interactive maps live in web/.
"""

from __future__ import annotations

from html import escape
from typing import Any

import orjson
from starlette.responses import HTMLResponse

from twin.model import LayerSchema

_STYLE = (
    "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2rem;max-width:72rem;color:#1b2733}"
    "table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left}"
    "th{background:#eef2f6}code{font-size:.85rem}a{color:#0b5cad}"
)


def _page(title: str, body: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, headers=headers)


def _links(links: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<li><a href="{escape(link["href"])}">{escape(link.get("title") or link["rel"])}</a> '
        f"<small>({escape(link['rel'])}, {escape(link.get('type', ''))})</small></li>"
        for link in links
    )
    return f"<ul>{rows}</ul>"


def conformance(doc: dict[str, Any]) -> HTMLResponse:
    items = "".join(f"<li><code>{escape(c)}</code></li>" for c in doc["conformsTo"])
    return _page("Conformance", f"<ul>{items}</ul>")


def collections(doc: dict[str, Any]) -> HTMLResponse:
    rows = "".join(
        f'<tr><td><a href="{escape(_href(c, "self"))}?f=html">{escape(c["id"])}</a></td><td>{escape(c["title"])}</td>'
        f'<td>{escape(c.get("twin:titleZh", ""))}</td><td><a href="{escape(_href(c, "items"))}?f=html">features</a></td></tr>'
        for c in doc["collections"]
    )
    return _page("Venue layers", f"<table><tr><th>id</th><th>title</th><th>名称</th><th></th></tr>{rows}</table>")


def collection(doc: dict[str, Any]) -> HTMLResponse:
    bbox = doc["extent"]["spatial"]["bbox"][0]
    body = (
        f"<p>{escape(doc['description'])}</p><p>Extent (lon/lat): <code>{escape(', '.join(f'{v:.5f}' for v in bbox))}</code></p>"
        f"{_links(doc['links'])}"
    )
    return _page(f"{doc['title']} / {doc.get('twin:titleZh', '')}", body)


def queryables(doc: dict[str, Any]) -> HTMLResponse:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v.get('type', '')))}</td><td>{escape(v.get('title', ''))}</td>"
        f"<td>{escape(', '.join(map(str, v.get('enum', []))))}</td></tr>"
        for k, v in doc["properties"].items()
    )
    return _page(
        f"Queryables of {doc['title']}",
        f"<table><tr><th>name</th><th>type</th><th>title</th><th>values</th></tr>{rows}</table>",
    )


def items(schema: LayerSchema, meta: dict[str, Any], features: list[bytes], headers: dict[str, str]) -> HTMLResponse:
    names = [f.name for f in schema.fields]
    head = "".join(f"<th>{escape(n)}</th>" for n in ["id", *names])
    rows = []
    for b in features:
        d = orjson.loads(b)
        p = d.get("properties") or {}
        cells = "".join(f"<td>{escape(str(p.get(n, '')))}</td>" for n in names)
        rows.append(
            f'<tr><td><a href="items/{escape(str(d["id"]))}?f=html">{escape(str(d["id"]))}</a></td>{cells}</tr>'
        )
    nav = _links([link for link in meta["links"] if link["rel"] in ("next", "prev", "collection")])
    body = (
        f"<p>{meta['numberReturned']} of {meta['numberMatched']} features"
        f"{' as of version ' + escape(meta['twin:version'][:12]) if meta.get('twin:version') else ''}.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>{nav}"
    )
    return _page(f"{schema.title_en} / {schema.title_zh}", body, headers)


def item(schema: LayerSchema, feature: dict[str, Any], headers: dict[str, str]) -> HTMLResponse:
    p = feature.get("properties") or {}
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in p.items())
    body = (
        f"<table>{rows}</table><h2>Geometry</h2><pre>{escape(orjson.dumps(feature['geometry']).decode()[:20000])}</pre>"
        f'<p><a href="{escape(str(feature["id"]))}">GeoJSON</a> · <a href="{escape(str(feature["id"]))}/history">history</a></p>'
    )
    return _page(f"{schema.title_en} {feature['id']}", body, headers)


def _href(doc: dict[str, Any], rel: str) -> str:
    for link in doc["links"]:
        if link["rel"] == rel and link.get("type") != "text/html":
            return str(link["href"])
    return ""
