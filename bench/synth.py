"""Synthetic data around the venue: irregular parcels for imports, and a grid layer whose
state is kept in numpy arrays so the benchmark can make thousands of realistic edits
(moves, resizes, property changes) without reading the twin back.

Everything is seeded: the same sizes give the same features, ids and commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import shapely

from twin.model import Change, Feature, FieldSpec, LayerSchema

# The venue (National Exhibition and Convention Center, Shanghai) and the box synthetic
# features fall in; the area of interest is generously larger.
LON0, LON1 = 121.28, 121.31
LAT0, LAT1 = 31.18, 31.20
AREA_OF_INTEREST = shapely.box(121.20, 31.12, 121.40, 31.26)
M_PER_DEG_LAT = 110_950.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(31.19))

KINDS = ("booth", "kiosk", "storage", "office", "plant", "stage")

PARCELS = LayerSchema(
    name="bench_parcels",
    title_zh="基准测试地块",
    title_en="Benchmark parcels",
    geometry_types=("Polygon",),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("area_m2", "number", unit="m2"),
        FieldSpec("kind", "string", allowed=KINDS),
    ),
    code_field="code",
    description="Synthetic parcels written by the benchmark suite.",
)

GRID = LayerSchema(
    name="bench_grid",
    title_zh="基准测试网格",
    title_en="Benchmark grid",
    geometry_types=("Polygon",),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("area_m2", "number", unit="m2"),
        FieldSpec("kind", "string", allowed=KINDS),
        FieldSpec("height_m", "number", unit="m"),
        FieldSpec("rev", "integer"),
    ),
    code_field="code",
    description="A grid of small synthetic footprints edited by many commits, written by the benchmark suite.",
)


# ---------------------------------------------------------------------- import parcels
def parcels(n: int, seed: int = 1) -> tuple[np.ndarray, dict[str, list]]:  # type: ignore[type-arg]
    """n small irregular (star-shaped, so always valid) polygons of 5-9 vertices, 3-15 m across,
    scattered over the venue; with the properties a surveyor's file would carry, plus one
    column (`survey_note`) that the layer does not have."""
    rng = np.random.default_rng(seed)
    cx = rng.uniform(LON0, LON1, n)
    cy = rng.uniform(LAT0, LAT1, n)
    radius_m = rng.uniform(1.5, 7.5, n)
    nv = rng.integers(5, 10, n)
    total = int(nv.sum())
    owner = np.repeat(np.arange(n), nv)
    # Jittered, evenly spaced angles around the centre: every gap is under half a turn, so the
    # polygon is star-shaped around its centre and never self-intersects.
    k = np.arange(total) - np.repeat(np.cumsum(nv) - nv, nv)
    ang = 2 * math.pi * (k + rng.uniform(0, 0.8, total)) / nv[owner]
    r = radius_m[owner] * rng.uniform(0.55, 1.0, total)
    x = cx[owner] + r * np.cos(ang) / M_PER_DEG_LON
    y = cy[owner] + r * np.sin(ang) / M_PER_DEG_LAT
    # shapely closes each ring (repeats its first vertex) itself.
    rings = shapely.linearrings(np.column_stack([x, y]), indices=owner)
    geoms = shapely.polygons(rings)
    area = shapely.area(geoms) * M_PER_DEG_LON * M_PER_DEG_LAT
    props = {
        "code": [f"P{i:06d}" for i in range(n)],
        "area_m2": [round(float(a), 2) for a in area],
        "kind": [KINDS[k] for k in rng.integers(0, len(KINDS), n)],
        "survey_note": ["synthetic"] * n,
    }
    return geoms, props


def write_geojson(path: Path, geoms: np.ndarray, props: dict[str, list]) -> None:  # type: ignore[type-arg]
    """A GeoJSON FeatureCollection (RFC 7946, lon/lat) with the code as the feature id too."""
    gj = shapely.to_geojson(geoms)
    names = list(props)
    cols = [props[k] for k in names]
    parts = [b'{"type":"FeatureCollection","name":"bench_parcels","features":[\n']
    for i in range(len(gj)):
        p = orjson.dumps({k: c[i] for k, c in zip(names, cols, strict=True)})
        parts.append(
            b'{"type":"Feature","id":'
            + orjson.dumps(props["code"][i])
            + b',"properties":'
            + p
            + b',"geometry":'
            + gj[i].encode()
            + (b"},\n" if i + 1 < len(gj) else b"}\n")
        )
    parts.append(b"]}\n")
    path.write_bytes(b"".join(parts))


def write_gpkg(path: Path, geoms: np.ndarray, props: dict[str, list]) -> None:  # type: ignore[type-arg]
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(props, geometry=list(geoms), crs="EPSG:4326")
    gdf.to_file(path, driver="GPKG", layer="parcels", engine="pyogrio")


# ---------------------------------------------------------------------- the edited grid
@dataclass
class Grid:
    """n = nx * ny features on a grid over the venue, one small rectangle per cell."""

    nx: int
    ny: int
    cx: np.ndarray  # type: ignore[type-arg]
    cy: np.ndarray  # type: ignore[type-arg]
    w: np.ndarray  # type: ignore[type-arg]
    h: np.ndarray  # type: ignore[type-arg]
    kind: np.ndarray  # type: ignore[type-arg]
    height: np.ndarray  # type: ignore[type-arg]
    rev: np.ndarray  # type: ignore[type-arg]
    rng: np.random.Generator

    @property
    def n(self) -> int:
        return self.nx * self.ny

    @property
    def dx(self) -> float:
        return (LON1 - LON0) / self.nx

    @property
    def dy(self) -> float:
        return (LAT1 - LAT0) / self.ny

    @classmethod
    def make(cls, n: int, seed: int = 7) -> Grid:
        # Columns: the divisor of n nearest its square root (1000 x 1000 for a million).
        nx = min((d for d in range(1, math.isqrt(n) * 2 + 2) if n % d == 0), key=lambda d: abs(d - math.sqrt(n)))
        ny = n // nx
        rng = np.random.default_rng(seed)
        col = np.tile(np.arange(nx), ny)
        row = np.repeat(np.arange(ny), nx)
        dx, dy = (LON1 - LON0) / nx, (LAT1 - LAT0) / ny
        return cls(
            nx=nx,
            ny=ny,
            cx=LON0 + (col + 0.5) * dx + rng.uniform(-0.05, 0.05, n) * dx,
            cy=LAT0 + (row + 0.5) * dy + rng.uniform(-0.05, 0.05, n) * dy,
            w=rng.uniform(0.4, 0.85, n) * dx,
            h=rng.uniform(0.4, 0.85, n) * dy,
            kind=rng.integers(0, len(KINDS), n).astype(np.int8),
            height=np.round(rng.uniform(3, 30, n), 1),
            rev=np.zeros(n, dtype=np.int32),
            rng=rng,
        )

    @staticmethod
    def fid(i: int) -> str:
        return f"g{i:07d}"

    def features(self, idx: np.ndarray) -> list[Feature]:  # type: ignore[type-arg]
        hw, hh = self.w[idx] / 2, self.h[idx] / 2
        geoms = shapely.box(self.cx[idx] - hw, self.cy[idx] - hh, self.cx[idx] + hw, self.cy[idx] + hh)
        area = np.round(self.w[idx] * self.h[idx] * M_PER_DEG_LON * M_PER_DEG_LAT, 2)
        out = []
        for k, i in enumerate(idx.tolist()):
            fid = self.fid(i)
            out.append(
                Feature(
                    fid,
                    geoms[k],
                    {
                        "code": fid.upper(),
                        "area_m2": float(area[k]),
                        "kind": KINDS[self.kind[i]],
                        "height_m": float(self.height[i]),
                        "rev": int(self.rev[i]),
                    },
                )
            )
        return out

    def adds(self, start: int, stop: int) -> list[Change]:
        idx = np.arange(start, stop)
        return [Change(GRID.name, "add", f.id, f) for f in self.features(idx)]

    def edits(self, k: int) -> list[Change]:
        """k modifications of distinct random features: a third moved (up to 0.3 cell), a third
        resized (±20 %), a third only re-attributed; every edit bumps `rev`, so none is a no-op."""
        idx = np.sort(self.rng.choice(self.n, size=k, replace=False))
        what = self.rng.integers(0, 3, k)
        mv, rs, at = idx[what == 0], idx[what == 1], idx[what == 2]
        self.cx[mv] += self.rng.uniform(-0.3, 0.3, len(mv)) * self.dx
        self.cy[mv] += self.rng.uniform(-0.3, 0.3, len(mv)) * self.dy
        self.w[rs] = np.clip(self.w[rs] * self.rng.uniform(0.8, 1.2, len(rs)), 0.2 * self.dx, 0.95 * self.dx)
        self.h[rs] = np.clip(self.h[rs] * self.rng.uniform(0.8, 1.2, len(rs)), 0.2 * self.dy, 0.95 * self.dy)
        self.kind[at] = self.rng.integers(0, len(KINDS), len(at))
        self.height[at] = np.round(self.rng.uniform(3, 30, len(at)), 1)
        self.rev[idx] += 1
        return [Change(GRID.name, "modify", f.id, f) for f in self.features(idx)]

    def bbox_for(self, expected: int) -> tuple[float, float]:
        """Width and height (degrees) of a query box that intersects about `expected` features."""
        cells = math.sqrt(expected)
        # A box of c cells catches about c + 0.6 features along each axis (the footprints cover
        # ~60 % of their cell); aim the side so that the count comes out near `expected`.
        c = max(cells - 0.6, 1.0)
        return c * self.dx, c * self.dy

    def random_bboxes(self, count: int, expected: int, seed: int) -> list[tuple[float, float, float, float]]:
        rng = np.random.default_rng(seed)
        bw, bh = self.bbox_for(expected)
        margin_x, margin_y = 2 * self.dx, 2 * self.dy
        x0 = rng.uniform(LON0 + margin_x, LON1 - margin_x - bw, count)
        y0 = rng.uniform(LAT0 + margin_y, LAT1 - margin_y - bh, count)
        return [(float(a), float(b), float(a + bw), float(b + bh)) for a, b in zip(x0, y0, strict=True)]
