"""`GET /health`: what an operator's monitor polls. 200 while the twin's store answers a read, 503
naming why once it does not (a database schema dropped under a running service); no token needed,
nothing of the twin told, never cached."""

from __future__ import annotations

from pathlib import Path

import psycopg
from api_server import client, problem_of
from conftest import postgis_url
from fastapi.testclient import TestClient
from psycopg import sql
from store_contract import AOI, SCHEMAS

from api.main import create_app
from api.settings import ApiSettings
from twin import Twin


def test_a_healthy_service_says_so_without_a_token(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    Twin.create(path, SCHEMAS, AOI).close()
    with client(path, public_reads=False) as api:
        assert api.get("/collections").status_code == 401  # reads need a token here; the monitor does not
        r = api.get("/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert r.headers["cache-control"] == "no-store"
        assert api.head("/health").status_code == 200
        problem_of(api.get("/health", params={"verbose": "1"}), 400, "verbose")


def test_a_store_that_stopped_answering_is_503_naming_why() -> None:
    url = postgis_url()
    Twin.create(url, SCHEMAS, AOI).close()
    with TestClient(create_app(ApiSettings(store=url)), raise_server_exceptions=False) as api:
        assert api.get("/health").status_code == 200
        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(url.split("?", 1)[0], autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        body = problem_of(api.get("/health"), 503)
        assert "the twin's store cannot be read" in body["detail"], body
