# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run-stamp
STAMP  := $(VENV)/.installed-stamp
WEB_STAMP := web/node_modules/.installed-stamp
export VENUE_TWIN_STORE ?= data/venue-twin.gpkg

# Tests that run on both stores: what the API, the maps and the tiles answer.
# (The GIS-client and browser tests run on the embedded store only: they check the clients and the
# pages, which the other tests show read the same answers from both stores; this keeps the suite short.
# The tiles the maps draw are compared between the stores in tests/test_store_postgis.py and
# tests/test_api_tiles.py.)
STORE_TESTS := tests/test_access_walk.py tests/test_api_access.py tests/test_api_caching.py \
  tests/test_api_edits.py tests/test_api_ogc.py tests/test_api_tiles.py tests/test_completion_api.py \
  tests/test_web_maps.py tests/test_api_surveys.py

.PHONY: install run test fuzz bench lint clean

# What running needs (make run), and on top of it the test, lint and benchmark tools (make test).
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The maps' browser assets (Leaflet) from the npm registry, pinned by web/package-lock.json.
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)

# Builds the embedded twin from the bundled venue layers on first run (init prints the summary),
# otherwise prints the summary, then starts the service.
run: $(RUN_STAMP) $(WEB_STAMP)
	@if $(BIN)/python -c "import sys; from twin import Twin; sys.exit(0 if Twin.exists('$(VENUE_TWIN_STORE)') else 1)"; \
	  then $(BIN)/venue-twin summary; else $(BIN)/venue-twin init; fi
	$(BIN)/venue-twin serve

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file to a process so its module
# fixtures (built twins, servers) are made once, the slowest files first (tests/conftest.py
# SLOWEST_FILES; xdist's own reorder, by number of tests, is turned off so that order holds); the
# tests wait for conditions, not for time, so they hold on a busy machine too. Two, one a core:
# three gained nothing in CI (8:17 + 1:50 against 8:14 + 1:44 on a Xeon) and lost time on a 2-core AMD
# EPYC (main pass 11:20 against 10:14, 2026-12-07). The forty slowest are listed at the end: the suite
# has 10 minutes.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
PG_CHECK := $(BIN)/python -c "import os, psycopg; psycopg.connect(os.environ.get('VENUE_TWIN_TEST_POSTGIS_DSN', 'postgresql://postgres@127.0.0.1:5432/postgres'), connect_timeout=3).close()" 2>/dev/null

# The PostGIS half runs against VENUE_TWIN_TEST_POSTGIS_DSN (default postgres@127.0.0.1:5432);
# without a server it is skipped (and the embedded half runs), except under CI=true.
# The API, map and tile tests run once more on the PostGIS store (the twin-level and store tests
# already run on both): every twin they build is copied into a fresh PostGIS schema. Under CI=true
# this pass always runs, so a missing PostgreSQL fails instead of passing unseen. It runs in one
# process beside the main pass, its output shown after it: the main pass leaves about a quarter
# of the two cores idle (its tests wait on servers, browsers and PostgreSQL), which this pass
# fills, instead of adding its 2.5 minutes after.
test: install
	@$(PG_CHECK) || echo "note: no PostgreSQL answers, so the PostGIS store's tests skip. To run them: apt-get install postgresql-15-postgis-3, start it (pg_ctlcluster 15 main start), and set VENUE_TWIN_TEST_POSTGIS_DSN=postgresql://postgres@127.0.0.1:5432/postgres (or run .ci/run)."
	@postgis=0; if [ "$$CI" = true ] || $(PG_CHECK); then postgis=1; fi; \
	log=$$(mktemp); echo 0 > $$log.rc; \
	if [ $$postgis = 1 ]; then \
	  (VENUE_TWIN_TEST_STORE=postgis $(BIN)/python -m pytest -q -p no:cacheprovider -m "not gpkg_only" \
	    $(STORE_TESTS) > $$log 2>&1; echo $$? > $$log.rc) & \
	fi; \
	$(BIN)/python -m pytest -q $(XDIST) --durations=40; main=$$?; \
	wait; \
	if [ $$postgis = 1 ]; then echo "--- the PostGIS pass: $(STORE_TESTS)"; cat $$log; fi; \
	pg=$$(cat $$log.rc); rm -f $$log $$log.rc; \
	[ $$main = 0 ] && [ $$pg = 0 ]

# The model-based store test and the API's schemathesis tests with long budgets: random histories
# on every store and eight times the generated requests, over several seeds (tests/store_model.py,
# tests/test_api_clients.py); `make test` runs them with short, derandomised budgets.
FUZZ_SEEDS ?= 1 2 3
fuzz: install
	for seed in $(FUZZ_SEEDS); do \
	  VENUE_TWIN_FUZZ=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider tests -k "model_based_histories or no_server_errors" \
	    --hypothesis-seed=$$seed || exit 1; \
	done

# Store benchmarks, API throughput (needs Debian's wrk), the PostGIS store beside the embedded one
# and TiPg (needs PostgreSQL with PostGIS; installs TiPg into its own virtualenv in the bench dir),
# the 50,000-feature map in Chromium, then 8 concurrent editors of distinct features and 1,000
# stalled connections against a real server; then the readiness forecasts on simulated seasons and
# the spreadsheet intake of 5,000 projects and 150,000 reports.
bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.api_bench
	$(BIN)/python -m bench.raster_bench
	$(BIN)/python -m bench.postgis_bench
	$(BIN)/python -m web.bench_maps
	$(BIN)/python -m bench.register_scale
	$(BIN)/python -m bench.concurrent_edits
	$(BIN)/python -m bench.slow_clients --timeout 5
	$(BIN)/python -m bench.forecast_bench
	$(BIN)/python -m bench.intake_bench
	$(BIN)/python -m bench.evidence_bench

lint: install
	$(BIN)/ruff check twin layers cli api completion tests bench web
	$(BIN)/mypy twin layers cli api completion web

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache web/node_modules
