"""One project's page in headless Chromium: reached from the completion map, read, and printed.

From the completion map's popup and from its late list a leader clicks a project's code and lands
on its page of the same date, showing the code, the unit and the status; the page prints on one A4
portrait page with its title and date and no navigation. Screenshots and the PDF: project-*.png /
.pdf in the artifacts folder. The fixtures (a live server, Chromium, `visit`) are
tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import io
import re
from typing import Any

from api_server import LiveServer
from pypdf import PdfReader
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    POPUP_READY,
    POPUP_SHOWN,
    Visit,
    _centre,
    api,
    clean,
    server,
    store,
    visit,
)
from test_web_print_browser import _squash
from web_support import KNOWN_DATE, save_artifact

from web import i18n

A4_PORTRAIT = (595.0, 842.0)  # points


def _check_page(v: Visit, server: LiveServer, code: str, lang: str) -> dict[str, Any]:
    """The project page the browser is on: of the map's date, with the code, unit and status of the JSON."""
    v.page.wait_for_selector("table.vt-facts")
    assert f"date={KNOWN_DATE}" in v.page.url and f"lang={lang}" in v.page.url, v.page.url
    p = api(server, f"/projects/{code}", date=KNOWN_DATE)["project"]
    facts = v.page.locator("table.vt-facts")
    assert facts.locator('[data-field="code"]').inner_text().strip() == code
    assert facts.locator('[data-field="unit"]').inner_text().strip() == i18n.unit_name(lang, p["responsible_unit"])
    assert facts.locator('[data-field="status"]').inner_text().strip() == i18n.status_label(lang, p["status"])
    assert code in v.page.locator("h1").inner_text()
    return p


def test_from_the_late_list_to_the_project_page_and_onto_paper(visit: Any, server: LiveServer) -> None:
    lang = "zh"
    v = visit(f"/maps/completion?date={KNOWN_DATE}&lang={lang}")
    link = v.page.locator("#vt-panel-body [data-section=late] a[data-project-link]").first
    code = link.get_attribute("data-project-link")
    assert code
    link.scroll_into_view_if_needed()
    v.shot(f"project-late-list-{lang}")
    with v.page.expect_navigation():
        link.click()
    p = _check_page(v, server, code, lang)
    v.shot(f"project-{lang}-{code}")
    clean(v)

    # printed: one A4 portrait page, the title and the date on it, no navigation
    v.page.emulate_media(media="print")
    v.shot(f"project-{lang}-{code}-print-media")
    assert not v.page.locator("nav.vt-nav").is_visible() and not v.page.locator("p.vt-links").is_visible()
    pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
    save_artifact(f"project-{lang}-{code}.pdf", pdf)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 1, len(pages)
    box = pages[0].mediabox
    assert abs(float(box.width) - A4_PORTRAIT[0]) < 2 and abs(float(box.height) - A4_PORTRAIT[1]) < 2
    text = _squash(pages[0].extract_text())
    name = p["name_en"] if lang == "en" else p["name_zh"]
    assert _squash(i18n.label(lang, "project_title", code=code, name=name)) in text
    assert KNOWN_DATE in text and _squash(i18n.unit_name(lang, p["responsible_unit"])) in text
    assert _squash(i18n.label(lang, "completion_map")) not in text  # neither the navigation nor the links


def test_from_the_maps_popup_to_the_project_page(visit: Any, server: LiveServer) -> None:
    lang = "en"
    late = api(server, "/completion", date=KNOWN_DATE)["late"][0]
    code = late["code"]
    project = api(server, f"/projects/{code}", date=KNOWN_DATE)["project"]
    layer, fid = project["features"][0].split("/", 1)
    lon, lat = _centre(api(server, f"/collections/{layer}/items/{fid}", asof=KNOWN_DATE)["geometry"])
    v = visit(f"/maps/completion?date={KNOWN_DATE}&lang={lang}")
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{lat}, {lon}], 18, {{animate: false}})"))
    point = v.page.evaluate(
        f"(() => {{ const p = vt_engine.map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()"
    )
    box = v.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    v.page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    v.page.wait_for_function(POPUP_READY)
    link = v.page.locator(f'.leaflet-popup-content a[data-project-link="{code}"]')
    href = link.get_attribute("href") or ""
    assert re.search(rf"/projects/{re.escape(code)}\?f=html&date={KNOWN_DATE}&lang={lang}$", href), href
    v.page.wait_for_function(POPUP_SHOWN)
    v.shot(f"project-popup-{lang}-{code}")
    with v.page.expect_navigation():
        link.click()
    _check_page(v, server, code, lang)
    v.shot(f"project-{lang}-{code}-from-popup")
    clean(v)
