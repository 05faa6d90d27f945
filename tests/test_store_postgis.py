"""The PostGIS store: the store contract on PostgreSQL, and what only PostGIS has (the query plan,
migrations, writers in other processes, COPY, native vector tiles, ids equal to the embedded store's)."""

from __future__ import annotations

import pytest
from store_contract import StoreContract


@pytest.mark.parametrize("store_factory", ["postgis"], indirect=True)
class TestPostGISStoreContract(StoreContract):
    pass
