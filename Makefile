# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export VENUE_TWIN_STORE ?= data/venue-twin.gpkg

.PHONY: install run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Builds the embedded twin from the bundled venue layers on first run, then starts the service.
run: install
	@test -f $(VENUE_TWIN_STORE) || $(BIN)/venue-twin init
	$(BIN)/venue-twin summary
	$(BIN)/venue-twin serve

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check twin layers cli tests bench
	$(BIN)/mypy twin layers cli

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
