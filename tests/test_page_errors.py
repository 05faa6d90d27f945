"""A bad query parameter typed into a page's address: a reader gets a page, a script the JSON.

The pages (the maps, the units page, a project's page, the briefing) answer a request that asks
for HTML — f=html, or a browser's Accept header — with the same 400 or 404 status as a small page in the
reader's language that names the parameter, gives the JSON's detail and links home and to the
page without the parameter; every other caller (Accept: application/json, no Accept header, a
data f) keeps the problem JSON as it was (api/errors.py decides which, in one place).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator

import pytest
from api_server import bundled_file
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from twin.core import SHANGHAI
from twin.errors import ERROR_CODES, BadInput, NotFound
from web import i18n
from web.error_page import explanation, label_of

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DATE_DETAIL = "{!r} is not a date (YYYY-MM-DD) or a checkpoint (T-30)"

# (path, query, the query the "without" link keeps)
CASES = [
    ("/maps/completion", "date=2026-13-45", ""),
    ("/brief", "date=yesterday", ""),
    ("/completion/units", "f=html&date=x", "f=html"),
    ("/projects/RD-03", "f=html&date=x", "f=html"),
    ("/evidence", "f=html&flagged=true&date=x", "f=html&flagged=true"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("errors") / "venue.gpkg"
    bundled_file(path)
    with TestClient(create_app(ApiSettings(store=path))) as c:
        yield c


def _links(page: str) -> dict[str, str]:
    return {k: html_lib.unescape(v) for v, k in re.findall(r'<a href="([^"]*)" data-link="([^"]*)"', page)}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("path", "query", "kept"), CASES)
def test_a_reader_gets_a_page_in_their_language_naming_the_parameter(
    api: TestClient, path: str, query: str, kept: str, lang: str
) -> None:
    bad = query.rsplit("=", 1)[1]
    for how in ({"params": f"{query}&lang={lang}", "headers": {"accept": BROWSER}},
                {"params": query, "headers": {"accept": BROWSER, "accept-language": lang}}):  # fmt: skip
        r = api.get(path + "?" + how["params"], headers=how["headers"])  # type: ignore[operator]
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text[:300]
        page = r.text
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
        assert f"<h1>{i18n.label(lang, 'error_400')}</h1>" in page
        assert i18n.label(lang, "error_parameter", parameter="date") in page
        assert 'data-parameter="date"' in page
        # the JSON's detail, explained in the page's language
        assert explanation(lang, "not_a_date", {"value": bad}, DATE_DETAIL.format(bad)).text in html_lib.unescape(page)
        assert (DATE_DETAIL.format(bad) in html_lib.unescape(page)) == (lang == "en")
        links = _links(page)
        assert links["home"] == f"http://testserver/maps?lang={lang}"
        without = links["without"]
        assert without.startswith(f"http://testserver{path}") and "date=" not in without
        if kept:
            assert kept in without
        # the page without the parameter opens
        assert api.get(without, headers={"accept": BROWSER}).status_code == 200


@pytest.mark.parametrize(("path", "query", "kept"), CASES)
@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_a_script_gets_the_problem_json_as_before(
    api: TestClient, path: str, query: str, kept: str, accept: str | None
) -> None:
    bad = query.rsplit("=", 1)[1]
    query = query.replace("f=html&", "")  # a script does not ask for the page
    headers = {"accept": accept} if accept else {}
    r = api.get(path + "?" + query, headers=headers)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Invalid parameter",
        "status": 400,
        "detail": DATE_DETAIL.format(bad),
        "parameter": "date",
        "code": "not_a_date",  # what the error is (twin.errors.ERROR_CODES), beside the detail
    }


def test_a_data_format_or_a_data_route_keeps_the_json(api: TestClient) -> None:
    r = api.get("/completion/units?f=csv&date=x", headers={"accept": BROWSER})
    assert r.status_code == 400 and r.json()["parameter"] == "date"
    r = api.get("/projects/RD-03?f=json&date=x", headers={"accept": BROWSER})
    assert r.status_code == 400 and r.json()["parameter"] == "date"
    r = api.get("/completion/late?date=x", headers={"accept": BROWSER})  # no page there
    assert r.status_code == 400 and r.json()["parameter"] == "date"
    r = api.get("/maps/data/panel?date=x", headers={"accept": BROWSER})  # what the map's script loads
    assert r.headers["content-type"] == "application/problem+json"


def test_other_mistakes_on_a_page_are_pages_too(api: TestClient) -> None:
    # an unknown parameter, a bad lang (the page falls back to the browser's language), a bad f
    r = api.get("/maps/completion?zzz=1", headers={"accept": BROWSER, "accept-language": "en"})
    assert r.status_code == 400 and 'data-parameter="zzz"' in r.text and "This page has no parameter zzz" in r.text
    r = api.get("/maps/completion?lang=fr", headers={"accept": BROWSER, "accept-language": "en"})
    assert r.status_code == 400 and '<html lang="en">' in r.text and 'data-parameter="lang"' in r.text
    assert _links(r.text)["without"] == "http://testserver/maps/completion"
    r = api.get("/projects/RD-03?f=pdf", headers={"accept": BROWSER})
    assert r.status_code == 400 and 'data-parameter="f"' in r.text
    assert api.get("/maps/completion?lang=fr").json()["parameter"] == "lang"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_what_the_twin_does_not_have_is_a_404_page_for_a_reader(api: TestClient, lang: str) -> None:
    """A layer that is not there, a date before the twin's history: the JSON's 404, as a page (it
    was the raw problem JSON in the browser). The page without the date opens; a layer's page has
    no such way on, only home."""
    cases = [
        ("/maps/layers/nolayer", {}, "no layer 'nolayer'", None, "no_layer"),
        (
            "/projects/RD-03",
            {"f": "html", "date": "2025-01-01"},
            "the twin has no data on 2025-01-01",
            "f=html",
            "no_data_then",
        ),
        # the completion map of such a date says so (its timeline's checkpoints say it on the map:
        # test_web_browser.py test_timeline_before_the_twins_history_says_there_was_no_data_yet)
        ("/maps/completion", {"date": "2025-01-01"}, "the twin has no data on 2025-01-01", "", "no_data_then"),
    ]
    first = api.app.state.twin.first_commit()  # type: ignore[attr-defined]
    since = first.time.astimezone(SHANGHAI).date().isoformat()  # the day the twin's history starts
    for path, params, detail, kept, kind in cases:
        j = api.get(path, params={k: v for k, v in params.items() if k != "f"})
        assert j.status_code == 404 and j.headers["content-type"] == "application/problem+json"
        r = api.get(path, params={**params, "lang": lang}, headers={"accept": BROWSER})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (path, r.text[:300])
        page = html_lib.unescape(r.text)
        assert f"<h1>{i18n.label(lang, 'error_404')}</h1>" in page and 'data-status="404"' in page
        problem = j.json()
        assert problem["code"] == kind
        values = {"layer": "nolayer"} if kind == "no_layer" else {"when": "2025-01-01", "since": since}
        assert explanation(lang, kind, values, problem["detail"]).text in page  # the JSON's detail, explained
        assert lang == "en" or detail not in page
        links = _links(r.text)
        assert links["home"] == f"http://testserver/maps?lang={lang}"
        if kept is None:
            assert "without" not in links  # the same address again is no way on
        else:
            assert "date=" not in links["without"] and kept in links["without"]
            assert api.get(links["without"], headers={"accept": BROWSER}).status_code == 200


# The pages as api/errors.py once listed them by path; they are now marked where they are
# registered (api.deps.add_page_route).
PAGES = {
    "/",
    "/maps",
    "/maps/completion",
    "/maps/timeline",
    "/maps/changes",
    "/maps/layers/{layer}",
    "/projects/{code}",
    "/completion/units",
    "/brief",
    "/evidence",
}
# Routes that answer a browser with HTML but answer no error of their own (they take no query):
# the API's own documentation (Swagger UI) and the address it moved from.
NOT_PAGES = {"/docs", "/api.html"}
# The OGC API documents' HTML encoding (api/html.py) are pages too: their errors were problem JSON
# in the browser (a collection or feature not there, limit=0), while a page's were pages.
OGC_PAGES = {
    "/conformance",
    "/collections",
    "/collections/{collectionId}",
    "/collections/{collectionId}/queryables",
    "/collections/{collectionId}/items",
    "/collections/{collectionId}/items/{featureId}",
}


def test_every_route_that_answers_a_browser_with_html_is_marked_a_page(api: TestClient) -> None:
    from fastapi import FastAPI
    from fastapi.routing import APIRoute, iter_route_contexts

    assert isinstance(api.app, FastAPI)
    routes = [c.original_route for c in iter_route_contexts(api.app.routes)]
    gets = [r for r in routes if isinstance(r, APIRoute) and "GET" in (r.methods or ())]
    marked = {r.path for r in gets if getattr(r, "pages", False)}
    assert marked >= PAGES | OGC_PAGES, (PAGES | OGC_PAGES) - marked
    # a page's HEAD is marked as its GET is
    assert all(
        getattr(r, "pages", False)
        for r in routes
        if isinstance(r, APIRoute) and r.path in marked and "HEAD" in (r.methods or ())
    )

    layer = api.get("/collections").json()["collections"][0]["id"]
    feature = api.get(f"/collections/{layer}/items?limit=1").json()["features"][0]["id"]
    version = api.get("/versions?limit=1").json()["versions"][0]["id"]
    # a value for every path parameter: a route with a new one fails here until it is given one
    # (the bundled twin has no survey: those routes answer their 404)
    values = {
        "layer": layer,
        "collectionId": layer,
        "featureId": feature,
        "code": "RD-03",
        "versionId": version,
        "tileMatrixSetId": "WebMercatorQuad",
        "tileMatrix": "0",
        "tileRow": "0",
        "tileCol": "0",
        "surveyId": "none",
        "z": "0",
        "x": "0",
        "y": "0",
        "fmt": "png",
    }
    html = set()
    for route in gets:
        assert set(route.param_convertors) <= values.keys(), route.path
        path = route.path.format(**values)
        for query, headers in (("", {"accept": BROWSER}), ("?f=html", {})):
            r = api.get(path + query, headers=headers)
            if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/html"):
                html.add(route.path)
    assert html >= (PAGES | OGC_PAGES) - {"/brief"}  # the probe finds the pages (/brief answers a PDF)
    assert html - NOT_PAGES <= marked, f"pages not marked (api.deps, `pages`): {html - NOT_PAGES - marked}"
    # and no route is marked that serves no page (a pinned root's documents, a feature's JSON schema)
    assert marked <= html | {"/brief"}, marked - html


# What a reader meets on the OGC API documents' pages (api/html.py), as the tester met them:
# (address, status, the error's code, the parameter the page names)
OGC_CASES = [
    ("/collections/nosuch", 404, "no_collection", None),
    ("/collections/nosuch/items", 404, "no_collection", None),
    ("/collections/nosuch/queryables", 404, "no_collection", None),
    ("/collections/halls/items/nosuch", 404, "no_feature", None),
    ("/collections/halls/items?limit=0", 400, None, "limit"),
    ("/collections/halls/items?zzz=1", 400, "unknown_parameter", "zzz"),
    ("/collections?zzz=1", 400, "unknown_parameter", "zzz"),
    ("/conformance?zzz=1", 400, "unknown_parameter", "zzz"),
]


@pytest.mark.parametrize(("address", "status", "code", "parameter"), OGC_CASES)
def test_the_ogc_documents_pages_answer_their_errors_as_pages(
    api: TestClient, address: str, status: int, code: str | None, parameter: str | None
) -> None:
    """A browser (or f=html) gets the page with the JSON's status; a script the problem JSON as before."""
    for accept in (None, "application/json", "*/*"):
        j = api.get(address, headers={"accept": accept} if accept else {})
        assert j.status_code == status and j.headers["content-type"] == "application/problem+json", (accept, j.text)
        assert j.json().get("code") == code
    with_f = address + ("&" if "?" in address else "?") + "f="
    json_f = api.get(with_f + "json", headers={"accept": BROWSER})
    assert json_f.status_code == status and json_f.headers["content-type"] == "application/problem+json"
    detail = j.json()["detail"]
    for url, headers in ((address, {"accept": BROWSER}), (with_f + "html", {})):
        r = api.get(url, headers=headers)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (url, r.text[:300])
        page = html_lib.unescape(r.text)
        assert f'data-status="{status}"' in page
        assert (f'data-parameter="{parameter}"' in page) == (parameter is not None)
        if code is None:
            assert detail in page  # no code: the JSON's detail, as it is
        else:
            assert f'data-kind="{code}"' in page or "vt-error-detail" not in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_address_nothing_answers_is_a_404_page_for_a_reader(api: TestClient, lang: str) -> None:
    """A mistyped address in the browser (`/maps/check` for the layer check) was the raw problem
    JSON; a reader gets the 404 page with the way home, a script the JSON as before."""
    j = api.get("/maps/check")
    assert j.status_code == 404 and j.headers["content-type"] == "application/problem+json"
    r = api.get("/maps/check", params={"lang": lang}, headers={"accept": BROWSER})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    page = html_lib.unescape(r.text)
    assert f"<h1>{i18n.label(lang, 'error_404')}</h1>" in page
    assert j.json()["code"] == "no_address"
    assert explanation(lang, "no_address", {"path": "/maps/check"}, j.json()["detail"]).text in page
    assert "/maps/check" in page
    assert _links(r.text)["home"] == f"http://testserver/maps?lang={lang}"
    assert api.get("/maps/check", headers={"accept": "application/json"}).headers["content-type"] == (
        "application/problem+json"
    )
    # a method a path does not take stays the 405 JSON naming what it takes, for a browser too
    r = api.post("/maps/completion", headers={"accept": BROWSER})
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


# What a leader meets most, as the tester met them: (address, status, the kind of error the page words)
LEADER_CASES = [
    ("/maps/completion?date=2027-03-01", 400, "date_after_today"),
    ("/completion/units?f=html&date=2027-01-01", 400, "date_after_today"),
    ("/brief?f=pdf&date=2027-01-01", 400, "date_after_today"),
    ("/maps/completion?date=T-400", 404, "no_data_then"),
    ("/maps/completion?date=2026-13-45", 400, "not_a_date"),
    ("/maps/changes?from=2026-13-01", 400, "not_a_time"),
    ("/maps/timeline?date=2026-10-20", 400, "unknown_parameter"),
    ("/completion/units?f=html&by=xx", 400, "not_one_of"),
    ("/evidence?f=html&flagged=true&zzz=1", 400, "unknown_parameter"),
    ("/evidence?f=html&date=2027-01-01", 400, "date_after_today"),
    ("/evidence?f=xml", 400, "not_one_of"),
    ("/maps/layers/nope", 404, "no_layer"),
    ("/maps/nope", 404, "no_address"),
    # English sentences on Chinese pages, as a later tester met them
    ("/maps/completion?date=2026-10-06&date=2026-10-26", 400, "repeated_parameter"),
    ("/evidence?f=html&flagged=maybe", 400, "not_a_boolean"),
    ("/maps/layers/projects?version=HEAD~999", 404, "before_first_commit"),
    ("/maps/completion?survey=bogus", 400, "no_survey"),
]
_CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.parametrize(("address", "status", "kind"), LEADER_CASES)
def test_a_chinese_page_explains_the_error_in_chinese(api: TestClient, address: str, status: int, kind: str) -> None:
    """The explanation is worded by the page from what the error is (its kind and values), not the
    API's English sentence, which a script still gets as the JSON's detail."""
    j = api.get(address.replace("f=html&", "").replace("f=pdf&", ""), headers={"accept": "application/json"})
    assert j.status_code == status and j.headers["content-type"] == "application/problem+json"
    detail = j.json()["detail"]
    r = api.get(address + "&lang=zh" if "?" in address else address + "?lang=zh", headers={"accept": BROWSER})
    assert r.status_code == status and r.headers["content-type"].startswith("text/html"), r.text[:300]
    page = html_lib.unescape(r.text)
    said = re.findall(r'<p class="vt-error-detail" data-kind="([^"]*)">([^<]*)</p>', page)
    assert [k for k, _ in said] == [kind], page
    assert _CJK.search(said[0][1]) and not re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", said[0][1]), said
    assert detail not in page and "--original-dates" not in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_unknown_project_is_said_once(api: TestClient, lang: str) -> None:
    """The page of a code the register lacks says so in its note, not again in the API's words."""
    r = api.get("/projects/XX-99", params={"f": "html", "lang": lang})
    assert r.status_code == 404
    page = html_lib.unescape(r.text)
    assert "no project 'XX-99'" not in page and "vt-error-detail" not in page
    note = re.search(r'<p class="vt-error"[^>]*>([^<]*)</p>', page)
    assert note is not None and "XX-99" in page and (_CJK.search(note[1]) is not None) == (lang == "zh")


@pytest.mark.parametrize(("lang", "text"), [("zh", "不带参数打开此页"), ("en", "This page without its parameters")])
def test_the_way_on_without_the_query_says_what_it_opens(api: TestClient, lang: str, text: str) -> None:
    """An error that names no parameter offers the page without its query: in Chinese it read
    "重新打开此页" (open this page again), which is the same error again, not what the link opens."""
    r = api.get(
        "/projects/RD-03", params={"f": "html", "date": "2025-01-01", "lang": lang}, headers={"accept": BROWSER}
    )
    assert r.status_code == 404 and "data-parameter" not in r.text
    found = re.search(r'<a href="[^"]*" data-link="without">([^<]*)</a>', r.text)
    assert found is not None and html_lib.unescape(found[1]) == text, r.text[-500:]


# (address, the code its problem JSON carries): the kind of error as data, beside the English detail
CODED = [
    ("/completion/units?by=xx", "not_one_of"),
    ("/maps/timeline?date=2026-10-20", "unknown_parameter"),
    ("/collections/nope", "no_collection"),
    ("/collections/halls/items/nosuch", "no_feature"),
]


@pytest.mark.parametrize(("address", "code"), CODED)
def test_the_problem_json_carries_the_code_of_the_error(api: TestClient, address: str, code: str) -> None:
    r = api.get(address, headers={"accept": "application/json"})
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == code and code in ERROR_CODES
    assert {"type", "title", "status", "detail"} <= problem.keys()
    # an error of no known kind has no code: the detail is all there is
    r = api.get("/collections/halls/items?limit=0", headers={"accept": "application/json"})
    assert r.status_code == 400 and "limit" in r.json()["detail"] and "code" not in r.json()


def test_the_page_words_the_error_from_its_code_whatever_the_detail_says(api: TestClient) -> None:
    """The explanation comes from the code and values the error was raised with: a detail reworded
    (or in no known words at all) changes nothing but the detail itself."""
    import asyncio

    from fastapi import FastAPI
    from starlette.requests import Request

    from api.errors import ApiError, InvalidParameter
    from twin.errors import TwinError

    app = api.app
    assert isinstance(app, FastAPI)
    errors = [
        BadInput("that is no day we know of: 'x'", code="not_a_date", values={"value": "x"}),
        NotFound("nothing called nolayer here", code="no_layer", values={"layer": "nolayer"}),
        InvalidParameter(
            "reworded: a date to come",
            parameter="date",
            code="date_after_today",
            values={"date": "2099-01-01", "today": "2026-10-20"},
        ),
    ]
    for lang in ("zh", "en"):
        for exc in errors:
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/maps/completion",
                "query_string": f"f=html&lang={lang}".encode(),
                "headers": [(b"host", b"testserver")],
                "scheme": "http",
                "server": ("testserver", 80),
                "app": app,
            }
            handler = app.exception_handlers[ApiError if isinstance(exc, ApiError) else TwinError]
            r = asyncio.run(handler(Request(scope), exc))  # type: ignore[arg-type]
            page = html_lib.unescape(bytes(r.body).decode())
            said = re.findall(r'<p class="vt-error-detail" data-kind="([^"]*)">([^<]*)</p>', page)
            expected = i18n.label(lang, label_of(exc.code), **exc.values)  # type: ignore[union-attr, arg-type]
            assert said == [(exc.code, expected)], page
            assert str(exc) not in page  # the reworded detail is not what the page says
        # without a code, the detail is shown as it is, in English, whatever it resembles
        plain = explanation(lang, None, {}, "'x' is not a date (YYYY-MM-DD) or a checkpoint (T-30)")
        assert plain.kind is None and plain.text.startswith("'x' is not a date")


def test_every_code_has_its_words_in_both_languages() -> None:
    """Each code of the closed set (twin.errors.ERROR_CODES) is worded from exactly its values; a
    code outside it, or values other than its own, is refused where the error is made."""
    for code, names in ERROR_CODES.items():
        for lang in ("zh", "en"):
            assert i18n.label(lang, label_of(code), **dict.fromkeys(names, "V"))
    with pytest.raises(ValueError, match="not one of"):
        BadInput("x", code="no_such_code", values={})
    with pytest.raises(ValueError, match="takes the values"):
        NotFound("x", code="no_layer", values={"name": "x"})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_missing_feature_is_worded_in_the_pages_language(api: TestClient, lang: str) -> None:
    """A feature id not in the layer was told in the API's English on the Chinese page too (its
    error had no code); it is worded from its code and values, the layer and the id."""
    r = api.get("/collections/halls/items/nosuch", params={"lang": lang}, headers={"accept": BROWSER})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    said = i18n.label(lang, "error_kind_no_feature", feature="nosuch", layer="halls")
    assert said in html_lib.unescape(r.text)
    j = api.get("/collections/halls/items/nosuch").json()
    assert j["code"] == "no_feature" and "no feature 'nosuch' in layer halls" in j["detail"]


@pytest.mark.parametrize(("address", "status", "code", "parameter"), OGC_CASES)
def test_an_ogc_pages_error_is_in_the_ogc_pages_language(
    api: TestClient, address: str, status: int, code: str | None, parameter: str | None
) -> None:
    # The OGC pages are English unless lang names another; their errors were Chinese (the maps'
    # default) for a browser that sent no Accept-Language, and the detail beside them English.
    with_f = address + ("&" if "?" in address else "?") + "f=html"
    page = api.get(with_f)
    assert page.status_code == status and '<html lang="en"' in page.text, page.text[:200]
    assert '<html lang="zh-CN"' in api.get(with_f + "&lang=zh").text
    ok = api.get("/collections/halls/items?f=html")  # as an OGC page itself is
    assert ok.status_code == 200 and '<html lang="en"' in ok.text


def test_a_map_pages_error_follows_the_browser_as_the_map_does(api: TestClient) -> None:
    assert '<html lang="zh-CN"' in api.get("/maps/completion?date=nodate", headers={"accept": BROWSER}).text
    english = api.get("/maps/completion?date=nodate", headers={"accept": BROWSER, "accept-language": "en-GB"})
    assert '<html lang="en"' in english.text
