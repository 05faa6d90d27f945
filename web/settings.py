"""Map settings, from the environment with the VENUE_TWIN_ prefix.

- VENUE_TWIN_BASEMAP_URL: a tile URL template ({z}/{x}/{y}, optionally {s}) drawn under the venue
  layers. Empty by default: the layers are drawn on a plain background and no page makes a
  request to any host but the app. A tile server on the local network keeps it that way.
- VENUE_TWIN_BASEMAP_DATUM: "wgs84" (default), or "gcj02" for a Chinese web map (Amap, Tencent
  and the like), whose tiles are offset on purpose: the venue layers are then shifted to GCJ-02
  so they line up with the basemap.
- VENUE_TWIN_BASEMAP_ATTRIBUTION, VENUE_TWIN_BASEMAP_SUBDOMAINS, VENUE_TWIN_BASEMAP_MAX_ZOOM.
- VENUE_TWIN_MAP_TILE_THRESHOLD: a served map draws a layer of more features than this from the
  API's vector tiles instead of loading its GeoJSON. Default 250,000, the most one GeoJSON load
  draws (web.data.MAX_FEATURES): on the GeoPackage store the twin encodes tiles in Python at about
  0.4 ms a feature, so a view of 50,000 features opens in ~16 s from tiles against ~3 s from
  GeoJSON; lower it on PostGIS (ST_AsMVT). Exported maps and maps on a GCJ-02 basemap (tiles
  cannot be shifted) always use GeoJSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from twin.settings import VenueSettings


class MapSettings(VenueSettings):
    basemap_url: str = ""
    basemap_datum: Literal["wgs84", "gcj02"] = "wgs84"
    basemap_attribution: str = ""
    basemap_subdomains: str = "abc"
    # A web map's zoom levels are 0 to 24 (Leaflet draws nothing past the basemap's last level): a
    # negative one locked the map at the whole world, the venue a dot that could not be zoomed to.
    basemap_max_zoom: int = Field(default=20, ge=0, le=24)
    map_tile_threshold: int = Field(default=250_000, ge=0)

    @property
    def gcj02(self) -> bool:
        return bool(self.basemap_url) and self.basemap_datum == "gcj02"


def map_settings() -> MapSettings:
    return MapSettings()
