"""The product's home page: the maps for leaders and for the venue teams, and the API for GIS tools.

Served at "/" to browsers (the API's landing page keeps answering JSON to API clients) and at
/maps. Plain HTML with its own small style sheet: it loads nothing, not even the map assets.
"""

from __future__ import annotations

from html import escape

from twin.core import SHANGHAI, TwinLike
from web import i18n
from web.data import completion_view, spatial_layers
from web.panels import RED_FLAG

_STYLE = """
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;color:#1f2937;background:#f3f4f6}
header{background:linear-gradient(135deg,#7f1d1d,#b91c1c);color:#fff;padding:28px 32px 22px}
header h1{margin:0;font-size:26px}header p{margin:6px 0 0;opacity:.9;max-width:60rem}
header .lang{float:right;color:#fff;border:1px solid rgba(255,255,255,.7);border-radius:4px;padding:2px 10px;
text-decoration:none}
main{padding:22px 32px;max-width:72rem}
h2{font-size:16px;color:#6b7280;margin:22px 0 10px;text-transform:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:14px}
.card{display:block;background:#fff;border-radius:8px;padding:16px 18px;text-decoration:none;color:inherit;
box-shadow:0 1px 2px rgba(0,0,0,.08);border-top:4px solid #b91c1c}
.card:hover{box-shadow:0 3px 10px rgba(0,0,0,.15)}
.card h3{margin:0 0 6px;font-size:17px;color:#7f1d1d}.card p{margin:0;font-size:13.5px;color:#4b5563}
.card.lead{grid-column:span 2}
.kpis{display:flex;gap:22px;margin-top:10px}.kpi b{display:block;font-size:30px;color:#b91c1c;line-height:1.1}
.kpi span{font-size:12px;color:#6b7280}
ul.links{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:8px 18px}
ul.links a{color:#0b5cad}
.layers a{display:inline-block;margin:3px 14px 3px 0;color:#0b5cad}.layers small{color:#9ca3af}
.kpi svg{margin-right:4px}
footer{padding:10px 32px 26px;font-size:12px;color:#6b7280}
@media (max-width:700px){.card.lead{grid-column:auto}}
"""


def landing_html(twin: TwinLike, lang: str, base: str = "", service_title: str | None = None) -> str:
    """The home page in `lang` (links are relative to `base`, the app's root path).

    `service_title` is the API's title, shown with the API links (the OGC API landing page's
    HTML form is this page)."""
    other = "en" if lang == "zh" else "zh"
    head = twin.head()

    def u(path: str, **params: str) -> str:
        q = "&".join(f"{k}={escape(v)}" for k, v in params.items())
        return escape(f"{base}{path}") + (f"?{q}" if q else "")

    kpis = ""
    try:
        view = completion_view(twin)
    except Exception:  # noqa: BLE001 - the home page must open even if the register is broken
        view = None
    if view is not None and view.snapshot.statuses:
        snap = view.snapshot
        overall = snap.overall()
        days = snap.days_to_opening
        if days > 0:
            days_html = f"<b>{days}</b><span>{escape(i18n.label(lang, 'days_left'))}</span>"
        elif days == 0:
            days_html = f"<b>0</b><span>{escape(i18n.label(lang, 'opening_today'))}</span>"
        else:
            opened = escape(i18n.label(lang, "opening_passed", date=snap.opening.isoformat()))
            days_html = f"<b>✓</b><span>{opened}</span>"
        kpis = (
            '<div class="kpis">'
            f'<div class="kpi" data-kpi="days" data-value="{days}">{days_html}</div>'
            f'<div class="kpi" data-kpi="overall"><b>{i18n.fmt_percent(overall.actual)}</b>'
            f"<span>{escape(i18n.label(lang, 'overall'))} · {escape(i18n.label(lang, 'planned'))} "
            f"{i18n.fmt_percent(overall.planned)}</span></div>"
            f'<div class="kpi" data-kpi="late"><b>{overall.counts.get("behind", 0)}</b>'
            f"<span>{escape(i18n.label(lang, 'late_projects'))}</span></div>"
            f'<div class="kpi" data-kpi="done"><b>{RED_FLAG}{overall.counts.get("done", 0)}</b>'
            f"<span>{escape(i18n.status_label(lang, 'done'))} / {overall.projects}</span></div></div>"
        )
    layer_links = "".join(
        f'<a href="{u("/maps/layers/" + s.name, lang=lang)}" data-layer="{escape(s.name)}">'
        f"{escape(i18n.layer_title(lang, s))} <small>({twin.count(s.name)})</small></a>"
        for s in twin.layers()  # the caller's view: hidden layers are not there to list
    )
    api = [
        (u("/collections", f="html"), i18n.label(lang, "api_collections")),
        (u("/docs"), i18n.label(lang, "api_doc")),
        (u("/versions"), i18n.label(lang, "api_versions")),
        (u("/", f="json"), i18n.label(lang, "api_landing_json")),
        (u("/conformance"), i18n.label(lang, "api_conformance")),
    ]
    api_html = "".join(f'<li><a href="{href}">{escape(title)}</a></li>' for href, title in api)
    version = ""
    if head is not None:
        when = head.time.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        version = (
            f"{escape(i18n.label(lang, 'head_version'))}: <code>{head.id[:12]}</code> ({when}) · "
            f"{escape(i18n.label(lang, 'commits_n', n=twin.commit_count()))}"
        )
    else:
        version = escape(i18n.label(lang, "no_commits"))
    n_features = sum(twin.count(s.name) for s in spatial_layers(twin))
    lang_tag = "en" if lang == "en" else "zh-CN"
    return f"""<!doctype html>
<html lang="{lang_tag}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>{escape(i18n.label(lang, "product"))}</title><style>{_STYLE}</style></head>
<body class="vt-landing">
<header><a class="lang" href="{u("/maps", lang=other)}" data-lang-switch="{other}">{escape(i18n.label(lang, "other_lang"))}</a>
<h1>{escape(i18n.label(lang, "product"))}</h1><p>{escape(i18n.label(lang, "landing_intro"))}</p></header>
<main>
<h2>{escape(i18n.label(lang, "maps_for_leaders"))}</h2>
<div class="cards">
<a class="card lead" href="{u("/maps/completion", lang=lang)}" data-map="completion">
<h3>{escape(i18n.label(lang, "completion_map"))}</h3><p>{escape(i18n.label(lang, "completion_map_desc"))}</p>{kpis}</a>
<a class="card" href="{u("/maps/timeline", lang=lang)}" data-map="timeline">
<h3>{escape(i18n.label(lang, "timeline_map"))}</h3><p>{escape(i18n.label(lang, "timeline_map_desc"))}</p></a>
</div>
<h2>{escape(i18n.label(lang, "maps_for_teams"))}</h2>
<div class="cards">
<a class="card" href="{u("/maps/changes", lang=lang)}" data-map="changes">
<h3>{escape(i18n.label(lang, "changes_map"))}</h3><p>{escape(i18n.label(lang, "changes_map_desc"))}</p></a>
<div class="card" data-map="layers"><h3>{escape(i18n.label(lang, "layer_check_map"))}</h3>
<p>{escape(i18n.label(lang, "layer_check_desc"))}</p><div class="layers">{layer_links}</div></div>
</div>
<h2>{escape(i18n.label(lang, "for_developers"))}{" · " + escape(service_title) if service_title else ""}</h2>
<ul class="links">{api_html}</ul>
</main>
<footer>{version} · {escape(i18n.label(lang, "features_n", n=n_features))}<br>{escape(i18n.label(lang, "approximate"))}</footer>
</body></html>"""
