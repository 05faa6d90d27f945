"""The bundled venue: approximate geometry of the NECC (Shanghai) and its 2026 preparation history.

Run `python -m layers.venue_geometry` to regenerate `layers/data/history/NNN-slug.geojson`, one
change file (see `layers.changefile`) per commit. The output is deterministic: the same code
always writes the same bytes, and `tests/test_bundle.py` checks the committed files are current.

How the geometry is made
------------------------
Shapes are drawn in metres in a local frame centred on the central plaza (GC): x east, y north.
The frame's origin is placed at E 623,664 m, N 3,452,942 m in EPSG:4549 (CGCS2000 Gauss-Krüger
zone 40, central meridian 120° E), the venue's published position, and every shape is then
transformed to lon/lat (EPSG:4326) with pyproj and rounded to 1e-7° (about 1 cm).

Everything is approximate (about ±150 m): the public facts give the centre, the site's rough
extent, the neighbouring roads, the four-leaf-clover plan with the hall codes and the typical
hall size (28,800–30,000 m²); the outline of each hall, zone and road here is a plausible
drawing that respects those facts, not a survey. In particular:
- The building is ONE four-leaf clover round the central plaza GC (also drawn whole as the
  `boundary-building` outline): four leaves pointing north-west, north-east, south-west and
  south-east, each split lengthwise into two halls. Halls are numbered clockwise from the south
  entrance (1.1H/2.1H south-west, 3H/4.1H north-west, 5.1H/6.1H north-east, 7.1H/8.1H south-east),
  so 1.1H and 8.1H flank the south square. The numbering round the clover is taken from visitor
  plans as best public sources allow; each hall's outline is a drawing, not a survey.
- Upper-level (16 m) halls are drawn inset 18 m within the hall below, not on the same footprint:
  both levels then show and can be clicked in every client (web map, QGIS, GDAL) without a level
  switch, and `level` ("0m" / "16m") says which is which. Their floor area is the hall below's.
- NH is drawn as the West Hall (西厅, the convention centre) in the notch between the western leaves.
- The south plaza (南广场, the main entrance) fills the notch between the two southern leaves and
  the square south of them.
- Metro: the Line 2 exit is placed on Songze Avenue at the north-east corner, the Line 17 exit on
  Zhuguang Road on the west side (both stations "National Exhibition and Convention Center" since
  2024-09-21); the roads layer carries each exit's passage to the nearest gate.
- Every layer holds one geometry family: roads and ramps are centre lines; landscaping is areas
  (green walls and street-tree rows as the thin strips they occupy, with length and tree count
  as attributes).
- Which side of Laigang Road the 16,500 m² clover green lies on is only known as "north of
  Laigang Road"; here Laigang Road bends south-east below the site and the green sits north of
  that bend.
- The preparation history for the 2026 expo (dates, people, project codes and the 2026 figures
  for the flower display) is an illustrative scenario built on the published figures of
  earlier years; the persons named are fictitious.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from layers.catalogue import AREA_OF_INTEREST, LAYERS_BY_NAME

HISTORY_DIR = Path(__file__).parent / "data" / "history"
LOCAL_CRS = "EPSG:4549"
ORIGIN = (623_664.0, 3_452_942.0)  # E, N of the central plaza in EPSG:4549
DECIMALS = 7  # 1e-7 degree is about 1 cm

_TO_LONLAT = Transformer.from_crs(LOCAL_CRS, "EPSG:4326", always_xy=True)


# ============================================================================ geometry helpers
def to_lonlat(local: BaseGeometry) -> BaseGeometry:
    """Local metres (origin at the central plaza) -> EPSG:4549 -> lon/lat, rounded to ~1 cm."""

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = _TO_LONLAT.transform(xy[:, 0] + ORIGIN[0], xy[:, 1] + ORIGIN[1])
        return np.round(np.column_stack([lon, lat]), DECIMALS)

    return shapely.transform(local, project)


def rounded_rect(
    x0: float, y0: float, x1: float, y1: float, corners: dict[str, float] | None = None, segments: int = 8
) -> Polygon:
    """A rectangle with some corners (keys "sw", "se", "ne", "nw") rounded to the given radius."""
    corners = corners or {}
    spec = (  # corner, its position, the arc centre's direction inwards, the arc's start angle
        ("sw", (x0, y0), (1, 1), 180.0),
        ("se", (x1, y0), (-1, 1), 270.0),
        ("ne", (x1, y1), (-1, -1), 0.0),
        ("nw", (x0, y1), (1, -1), 90.0),
    )
    ring: list[tuple[float, float]] = []
    for name, (cx, cy), (dx, dy), start in spec:
        r = corners.get(name, 0.0)
        if r <= 0:
            ring.append((cx, cy))
            continue
        ox, oy = cx + dx * r, cy + dy * r
        for k in range(segments + 1):
            a = math.radians(start + 90.0 * k / segments)
            ring.append((ox + r * math.cos(a), oy + r * math.sin(a)))
    return Polygon(ring)


def chamfered_box(x0: float, y0: float, x1: float, y1: float, cut: float) -> Polygon:
    return Polygon(
        [
            (x0 + cut, y0),
            (x1 - cut, y0),
            (x1, y0 + cut),
            (x1, y1 - cut),
            (x1 - cut, y1),
            (x0 + cut, y1),
            (x0, y1 - cut),
            (x0, y0 + cut),
        ]
    )


def ellipse(cx: float, cy: float, area: float, aspect: float, n: int = 72) -> Polygon:
    """An n-gon inscribed in an ellipse (semi-axes a = aspect * b, along x and y) with exactly `area`."""
    b = math.sqrt(2 * area / (n * aspect * math.sin(2 * math.pi / n)))
    a = aspect * b
    return Polygon([(cx + a * math.cos(2 * math.pi * k / n), cy + b * math.sin(2 * math.pi * k / n)) for k in range(n)])


def clover(cx: float, cy: float, area: float) -> Polygon:
    """A four-leaf clover (four discs round a centre, turned 45°), scaled to `area`."""
    leaves = [
        Point(math.cos(a) * 1.0, math.sin(a) * 1.0).buffer(0.8, quad_segs=12)
        for a in (math.pi / 4, 3 * math.pi / 4, 5 * math.pi / 4, 7 * math.pi / 4)
    ]
    shape = unary_union([*leaves, Point(0, 0).buffer(0.9, quad_segs=12)])
    s = math.sqrt(area / shape.area)
    shape = affinity.scale(shape, s, s, origin=(0, 0))
    return affinity.translate(shape, cx, cy)


def arc_path(
    start: tuple[float, float],
    centre: tuple[float, float],
    r: float,
    a0: float,
    a1: float,
    end: tuple[float, float],
    segments: int = 12,
) -> LineString:
    """A centre line: straight from `start` to an arc (angles in degrees), then straight to `end`."""
    pts = [start]
    for k in range(segments + 1):
        a = math.radians(a0 + (a1 - a0) * k / segments)
        pts.append((centre[0] + r * math.cos(a), centre[1] + r * math.sin(a)))
    pts.append(end)
    return LineString(pts)


def length_to(points: Sequence[tuple[float, float]], total: float) -> LineString:
    """A polyline whose last leg is stretched along its direction so the whole line is `total` long."""
    head = LineString(points[:-1])
    (px, py), (qx, qy) = points[-2], points[-1]
    leg = math.hypot(qx - px, qy - py)
    k = (total - head.length) / leg
    return LineString([*points[:-1], (px + (qx - px) * k, py + (qy - py) * k)])


def tree_row(x0: float, y0: float, x1: float, y1: float, spacing: float) -> MultiPoint:
    n = int(round(math.hypot(x1 - x0, y1 - y0) / spacing)) + 1
    return MultiPoint([(x0 + (x1 - x0) * k / (n - 1), y0 + (y1 - y0) * k / (n - 1)) for k in range(n)])


# ============================================================================ people and units
OPERATOR = "国家会展中心（上海）有限责任公司 (NECC Shanghai, venue operator)"
QP_CONSTRUCTION = "青浦区建设和管理委员会 (Qingpu Construction and Management Commission)"
QP_TRANSPORT = "青浦区交通委员会 (Qingpu Transport Commission)"
QP_GREENING = "青浦区绿化和市容管理局 (Qingpu Greening and City Appearance Bureau)"
CITY_GREENING = "上海市绿化和市容管理局 (Shanghai Greening and City Appearance Bureau)"
POWER = "国网上海市电力公司 (State Grid Shanghai Electric Power)"

ZHOU_MIN = "周敏 Zhou Min"
CHEN_JING = "陈静 Chen Jing"
LI_QIANG = "李强 Li Qiang"
ZHAO_LEI = "赵磊 Zhao Lei"
SUN_HAO = "孙浩 Sun Hao"
LIU_YANG = "刘洋 Liu Yang"
HUANG_LI = "黄丽 Huang Li"


# ============================================================================ history builder
@dataclass
class Entry:
    layer: str
    op: str
    feature_id: str
    geometry: BaseGeometry | None  # local metres; None for a delete
    properties: dict[str, Any] | None


@dataclass
class CommitSpec:
    slug: str
    time: str  # RFC 3339, Shanghai time
    author: str
    message: str
    entries: list[Entry] = field(default_factory=list)


class HistoryBuilder:
    """Collects commits while keeping the current state, so a modify can restate a whole feature."""

    def __init__(self) -> None:
        self.commits: list[CommitSpec] = []
        self.state: dict[tuple[str, str], tuple[BaseGeometry, dict[str, Any]]] = {}

    def commit(self, slug: str, time: str, author: str, message: str) -> CommitSpec:
        c = CommitSpec(slug, time, author, message)
        self.commits.append(c)
        return c

    def add(self, layer: str, fid: str, geom: BaseGeometry, **props: Any) -> None:
        key = (layer, fid)
        if key in self.state:
            raise ValueError(f"{layer}/{fid} exists already")
        clean = {k: v for k, v in props.items() if v is not None}
        self.state[key] = (geom, clean)
        self.commits[-1].entries.append(Entry(layer, "add", fid, geom, clean))

    def modify(self, layer: str, fid: str, geom: BaseGeometry | None = None, **props: Any) -> None:
        """Restate a feature with a new geometry and/or properties; a property given as None is dropped."""
        old_geom, old_props = self.state[(layer, fid)]
        new_props = dict(old_props)
        for k, v in props.items():
            if v is None:
                new_props.pop(k, None)
            else:
                new_props[k] = v
        new_geom = geom if geom is not None else old_geom
        self.state[(layer, fid)] = (new_geom, new_props)
        self.commits[-1].entries.append(Entry(layer, "modify", fid, new_geom, new_props))

    def delete(self, layer: str, fid: str) -> None:
        del self.state[(layer, fid)]
        self.commits[-1].entries.append(Entry(layer, "delete", fid, None, None))


def _m2(g: BaseGeometry, digits: int = 0) -> float | int:
    v = round(g.area, digits)
    return int(v) if digits == 0 else v


def _m(g: BaseGeometry) -> int:
    return int(round(g.length))


# ============================================================================ the features
# The clover. Each leaf is the convex hull of a small disc near the centre (the stem) and a large
# disc at the tip, pointing out along a diagonal (NE 45°, NW 135°, SW 225°, SE 315°), cut back from
# the central plaza GC by a 10 m seam and split lengthwise by a 12 m corridor into its two halls.
# Halls are numbered clockwise from the south entrance, as a visitor walks round: 1.1H and 2.1H in
# the south-west leaf (1.1H beside the south square), 3H and 4.1H north-west, 5.1H and 6.1H
# north-east, 7.1H and 8.1H south-east (8.1H beside the south square). The half-leaf areas come out
# at about 29,400 m², inside the published 28,800–30,000 m².
LEAF_STEM = (152.0, 71.0)  # distance of the stem disc's centre from GC, its radius (m)
LEAF_TIP = (302.0, 126.0)  # the same for the tip disc
GC_RADIUS = 95.0
LEAF_SEAM, LEAF_CORRIDOR = 10.0, 12.0
# Upper-level (16 m) halls are drawn as an inset of the hall below them, so on a map both levels
# show and can be clicked: the ground hall as the outer ring, the upper hall inside it.
UPPER_INSET = 18.0
# (leaf direction in degrees, hall on the clockwise-earlier side, hall on the other side). Seen
# from the centre looking out, "earlier" is the right-hand side for a clockwise walk.
_LEAVES: tuple[tuple[float, str, str], ...] = (
    (225.0, "1.1", "2.1"),
    (135.0, "3", "4.1"),
    (45.0, "5.1", "6.1"),
    (315.0, "7.1", "8.1"),
)
UPPER_HALLS = ("1.2", "2.2", "4.2", "5.2", "6.2", "7.2", "8.2")


def _direction(angle: float) -> tuple[float, float]:
    a = math.radians(angle)
    return math.cos(a), math.sin(a)


def central_plaza() -> Polygon:
    return Point(0, 0).buffer(GC_RADIUS, quad_segs=16)


def leaf(angle: float) -> Polygon:
    """One leaf of the clover pointing along `angle` (degrees from east, anticlockwise)."""
    dx, dy = _direction(angle)
    stem = Point(dx * LEAF_STEM[0], dy * LEAF_STEM[0]).buffer(LEAF_STEM[1], quad_segs=16)
    tip = Point(dx * LEAF_TIP[0], dy * LEAF_TIP[0]).buffer(LEAF_TIP[1], quad_segs=16)
    hull = unary_union([stem, tip]).convex_hull
    return hull.difference(central_plaza().buffer(LEAF_SEAM, quad_segs=16))


def leaf_halls(angle: float) -> tuple[Polygon, Polygon]:
    """The leaf's two halls: (the one clockwise-first seen from the south entrance, the other)."""
    dx, dy = _direction(angle)
    corridor = LineString([(0, 0), (dx * 700, dy * 700)]).buffer(LEAF_CORRIDOR / 2, cap_style="flat")
    parts = list(leaf(angle).difference(corridor).geoms)
    # Walking clockwise (a heading that turns right) the first hall of a leaf is the one on the
    # anticlockwise side of its axis: positive cross product of the axis with the hall's centre.
    def side(g: BaseGeometry) -> float:
        c = g.centroid
        return dx * c.y - dy * c.x

    ccw, cw = sorted(parts, key=side, reverse=True)
    return ccw, cw


def ground_halls() -> dict[str, Polygon]:
    """Hall code (e.g. "1.1", "3") -> footprint, for the eight leaf halls."""
    out: dict[str, Polygon] = {}
    for angle, first, second in _LEAVES:
        a, b = leaf_halls(angle)
        out[first], out[second] = a, b
    return out


def building_outline() -> Polygon:
    """The one clover building: leaves, central plaza and West Hall closed over the seams."""
    parts = [leaf(a) for a, _, _ in _LEAVES] + [central_plaza(), west_hall()]
    return unary_union(parts).buffer(14, quad_segs=8).buffer(-8, quad_segs=8)


def west_hall() -> Polygon:
    """NH, the West Hall (convention centre), in the notch between the two western leaves."""
    leaves = unary_union([leaf(a) for a, _, _ in _LEAVES])
    block = rounded_rect(-400, -82, -110, 82, {"nw": 30, "sw": 30})
    g = block.difference(leaves.buffer(LEAF_CORRIDOR, quad_segs=8)).difference(
        central_plaza().buffer(LEAF_SEAM, quad_segs=16)
    )
    return max(getattr(g, "geoms", [g]), key=lambda p: p.area)


def _clear_of_building(g: BaseGeometry, gap: float = 8.0) -> BaseGeometry:
    """`g` with the building (and a `gap`) cut out: plaza zones and lawns lie beside the halls, not on them."""
    leaves = unary_union([leaf(a) for a, _, _ in _LEAVES] + [central_plaza()])
    cut = g.difference(leaves.buffer(gap, quad_segs=8))
    if cut.geom_type == "MultiPolygon":
        cut = max(cut.geoms, key=lambda p: p.area)
    return cut


# Road centre lines (local metres).
SONGZE_Y, ZHUGUANG_X, YINGGANG_Y, LAIGANG_X, HUIZHUO_Y = 480.0, -520.0, -500.0, 560.0, -620.0
LAIGANG_BEND = [(LAIGANG_X, -300.0), (590.0, -420.0), (660.0, -520.0), (760.0, -620.0), (880.0, -720.0)]
YINGGANG_X_LAIGANG = 646.0  # where Yinggang East Road meets the bend of Laigang Road
HUIZHUO_X_LAIGANG = 760.0

FLOWER_DISPLAY_CENTRE = (0.0, -368.0)
# Metro station exits (local metres), as the exits' flower beds place them: Line 2 on Songze
# Avenue at the north-east corner, Line 17 on Zhuguang Road on the west side.
METRO_LINE2_EXIT = (455.0, 470.0)
METRO_LINE17_EXIT = (-528.0, 218.0)


def _hall_props(
    code: str, level: str, hall_type: str, geom: BaseGeometry, name_zh: str, name_en: str, **extra: Any
) -> dict[str, Any]:
    return dict(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        level=level,
        hall_type=hall_type,
        floor_area_m2=float(round(geom.area, -1)),
        responsible_unit=OPERATOR,
        responsible_person=ZHOU_MIN,
        **extra,
    )


def _initial_survey(h: HistoryBuilder) -> None:
    h.commit(
        "initial-survey",
        "2026-06-15T10:00:00+08:00",
        "王建国 Wang Jianguo (survey team)",
        "Initial survey for the 2026 CIIE preparation season: site boundary and 2018 core area, the halls of "
        "the clover plan at 0 m and 16 m, the central plaza and NH (West Hall), and the surrounding and internal "
        "roads. Drawn from public sources; positions approximate (±150 m) until the surveyed layers arrive.",
    )
    site = chamfered_box(-475, -465, 475, 440, 30)
    h.add(
        "venue_boundary",
        "boundary-site",
        site,
        code="B-SITE",
        name_zh="国家会展中心（上海）用地红线",
        name_en="NECC (Shanghai) site boundary",
        boundary_type="site",
        area_ha=round(site.area / 10_000, 1),
        notes="Published land area 86 ha (construction plot about 104 ha); outline estimated.",
    )
    core = box(ZHUGUANG_X, HUIZHUO_Y, LAIGANG_X, SONGZE_Y)
    h.add(
        "venue_boundary",
        "boundary-core-area",
        core,
        code="B-CORE",
        name_zh="进博会核心区（2018）",
        name_en="CIIE core area (2018)",
        boundary_type="core_area",
        area_ha=round(core.area / 10_000, 1),
        notes="Reported as about 1 km² between Songze Avenue, Zhuguang Road, Huizhuo Road and the district "
        "boundary; the district boundary is taken along Laigang Road here.",
    )

    outline = building_outline()
    h.add(
        "venue_boundary",
        "boundary-building",
        outline,
        code="B-BLDG",
        name_zh="国家会展中心（上海）四叶草主体建筑",
        name_en="NECC (Shanghai) four-leaf-clover building",
        boundary_type="building",
        area_ha=round(outline.area / 10_000, 1),
        notes="One building in four leaves round the central plaza; outline drawn from the published plan and "
        "aerial views, approximate (±150 m).",
    )

    footprints = ground_halls()
    for code, g in footprints.items():
        h.add(
            "halls",
            f"hall-{code}H",
            g,
            **_hall_props(f"{code}H", "0m", "exhibition", g, f"{code}H 展厅", f"Hall {code}H"),
        )
    for code in UPPER_HALLS:
        below = code.replace(".2", ".1")
        footprint = footprints[below]
        g = footprint.buffer(-UPPER_INSET, quad_segs=8)
        h.add(
            "halls",
            f"hall-{code}H",
            g,
            **_hall_props(
                f"{code}H",
                "16m",
                "exhibition",
                footprint,
                f"{code}H 展厅（16米层）",
                f"Hall {code}H (upper level)",
                notes=f"Upper level over {below}H; drawn inset by {UPPER_INSET:.0f} m so both levels show. "
                "Floor area as the hall below.",
            ),
        )
    gc = central_plaza()
    h.add(
        "halls",
        "hall-GC",
        gc,
        **_hall_props(
            "GC",
            "0m",
            "plaza",
            gc,
            "中央广场",
            "Central plaza",
            project_code="HL-01",
            notes="Commercial plaza at the centre of the clover; canopy and signage refresh before the expo.",
        ),
    )
    nh = west_hall()
    h.add(
        "halls",
        "hall-NH",
        nh,
        **_hall_props(
            "NH",
            "0m",
            "convention",
            nh,
            "NH 西厅（会议中心）",
            "NH West Hall (convention centre)",
            notes="NH is taken to be the West Hall (西厅), the convention centre; to be confirmed against venue plans.",
        ),
    )

    def road(
        fid: str,
        code: str,
        geom: BaseGeometry,
        zh: str,
        en: str,
        road_class: str,
        lanes: int | None,
        unit: str = QP_CONSTRUCTION,
        person: str = LI_QIANG,
        **extra: Any,
    ) -> None:
        h.add(
            "roads",
            fid,
            geom,
            code=code,
            name_zh=zh,
            name_en=en,
            road_class=road_class,
            works=extra.pop("works", "none"),
            length_m=_m(geom),
            lanes=lanes,
            responsible_unit=unit,
            responsible_person=person,
            **extra,
        )

    road(
        "road-songze-1",
        "SZ-01",
        LineString([(-1500, 470), (ZHUGUANG_X, SONGZE_Y)]),
        "崧泽大道（诸光路以西）",
        "Songze Avenue (west of Zhuguang Road)",
        "arterial",
        8,
    )
    road(
        "road-songze-2",
        "SZ-02",
        LineString([(ZHUGUANG_X, SONGZE_Y), (LAIGANG_X, SONGZE_Y)]),
        "崧泽大道（诸光路—涞港路）",
        "Songze Avenue (Zhuguang Road – Laigang Road)",
        "arterial",
        8,
    )
    road(
        "road-songze-3",
        "SZ-03",
        LineString([(LAIGANG_X, SONGZE_Y), (1500, 492)]),
        "崧泽大道（涞港路以东）",
        "Songze Avenue (east of Laigang Road)",
        "arterial",
        8,
    )
    road(
        "road-zhuguang-1",
        "ZG-01",
        LineString([(-522, -1200), (ZHUGUANG_X, YINGGANG_Y)]),
        "诸光路（盈港东路以南）",
        "Zhuguang Road (south of Yinggang East Road)",
        "secondary",
        6,
    )
    road(
        "road-zhuguang-2",
        "ZG-02",
        LineString([(ZHUGUANG_X, YINGGANG_Y), (ZHUGUANG_X, SONGZE_Y)]),
        "诸光路（盈港东路—崧泽大道）",
        "Zhuguang Road (Yinggang East Road – Songze Avenue)",
        "secondary",
        6,
    )
    road(
        "road-zhuguang-3",
        "ZG-03",
        LineString([(ZHUGUANG_X, SONGZE_Y), (-516, 1300)]),
        "诸光路（崧泽大道以北）",
        "Zhuguang Road (north of Songze Avenue)",
        "secondary",
        6,
    )
    road(
        "road-yinggang-1",
        "YG-01",
        LineString([(-1500, -506), (ZHUGUANG_X, YINGGANG_Y)]),
        "盈港东路（诸光路以西）",
        "Yinggang East Road (west of Zhuguang Road)",
        "secondary",
        6,
    )
    road(
        "road-yinggang-2",
        "YG-02",
        LineString([(ZHUGUANG_X, YINGGANG_Y), (YINGGANG_X_LAIGANG, YINGGANG_Y)]),
        "盈港东路（诸光路—涞港路）",
        "Yinggang East Road (Zhuguang Road – Laigang Road)",
        "secondary",
        6,
    )
    road(
        "road-yinggang-3",
        "YG-03",
        LineString([(YINGGANG_X_LAIGANG, YINGGANG_Y), (1400, -510)]),
        "盈港东路（涞港路以东）",
        "Yinggang East Road (east of Laigang Road)",
        "secondary",
        6,
    )
    road(
        "road-laigang-1",
        "LG-01",
        LineString([(LAIGANG_X, SONGZE_Y), LAIGANG_BEND[0]]),
        "涞港路（崧泽大道以南）",
        "Laigang Road (south of Songze Avenue)",
        "branch",
        4,
    )
    road(
        "road-laigang-2",
        "LG-02",
        LineString(LAIGANG_BEND),
        "涞港路（南段）",
        "Laigang Road (southern bend)",
        "branch",
        4,
    )
    road(
        "road-laigang-3",
        "LG-03",
        LineString([(LAIGANG_X, SONGZE_Y), (562, 1200)]),
        "涞港路（崧泽大道以北）",
        "Laigang Road (north of Songze Avenue)",
        "branch",
        4,
    )
    road(
        "road-huizhuo-1",
        "HZ-01",
        LineString([(ZHUGUANG_X, HUIZHUO_Y), (HUIZHUO_X_LAIGANG, HUIZHUO_Y)]),
        "会卓路（诸光路—涞港路）",
        "Huizhuo Road (Zhuguang Road – Laigang Road)",
        "branch",
        4,
    )
    road(
        "road-huizhuo-2",
        "HZ-02",
        LineString([(-1200, -624), (ZHUGUANG_X, HUIZHUO_Y)]),
        "会卓路（诸光路以西）",
        "Huizhuo Road (west of Zhuguang Road)",
        "branch",
        4,
    )
    internal = (
        ("road-internal-north", "IN-01", [(-430, 405), (430, 405)], "北侧内部环路", "Internal ring road, north"),
        ("road-internal-east", "IN-02", [(430, 405), (430, -440)], "东侧内部环路", "Internal ring road, east"),
        ("road-internal-west", "IN-03", [(-430, 405), (-430, -440)], "西侧内部环路", "Internal ring road, west"),
        (
            "road-internal-south-west",
            "IN-04",
            [(-430, -440), (-125, -440)],
            "南侧内部道路（西）",
            "Internal road, south-west",
        ),
        (
            "road-internal-south-east",
            "IN-05",
            [(125, -440), (430, -440)],
            "南侧内部道路（东）",
            "Internal road, south-east",
        ),
    )
    for fid, code, pts, zh, en in internal:
        road(fid, code, LineString(pts), zh, en, "internal", 2, unit=OPERATOR, person=ZHOU_MIN)
    walkway = length_to([(-385, 20), (-760, 20), (-1200, -110)], 847.0)
    road(
        "road-walkway-p5",
        "WK-P5",
        walkway,
        "国家会展中心—P5停车场人行天桥",
        "Raised walkway to car park P5",
        "pedestrian",
        None,
        unit=OPERATOR,
        person=ZHOU_MIN,
        works="walkway",
        notes="847 m raised walkway built in 2018; the P5 end is placed approximately.",
    )
    for fid, code, exit_xy, gate_xy, zh, en in (
        (
            "road-metro-line2-exit",
            "MT-02",
            METRO_LINE2_EXIT,
            (300.0, 380.0),
            "地铁2号线出口通道（国家会展中心站）",
            "Metro Line 2 exit passage (National Exhibition and Convention Center station)",
        ),
        (
            "road-metro-line17-exit",
            "MT-17",
            METRO_LINE17_EXIT,
            (-380.0, 150.0),
            "地铁17号线出口通道（国家会展中心站）",
            "Metro Line 17 exit passage (National Exhibition and Convention Center station)",
        ),
    ):
        road(
            fid,
            code,
            LineString([exit_xy, gate_xy]),
            zh,
            en,
            "pedestrian",
            None,
            unit=OPERATOR,
            person=ZHOU_MIN,
            notes="From the station exit to the nearest venue gate; both ends placed approximately. Stations "
            "renamed from East Xujing (Line 2) and Zhuguang Road (Line 17) on 2024-09-21.",
        )


def _south_plaza(h: HistoryBuilder) -> None:
    h.commit(
        "south-plaza-zones",
        "2026-06-29T16:30:00+08:00",
        "陈静 Chen Jing (venue operator, south plaza)",
        "South plaza zones for the 2026 expo: entrance square, flower display, light-show strip, east and west "
        "walkways, and a temporary construction-access walkway. The flower display carries the 2025 figures "
        "(8,251.3 m², 528,000 pots) as a placeholder until the 2026 design is approved.",
    )

    def zone(
        fid: str, code: str, geom: BaseGeometry, zh: str, en: str, zone_type: str, project: str, **extra: Any
    ) -> None:
        extra.setdefault("area_m2", float(_m2(geom, 1)))
        h.add(
            "south_plaza",
            fid,
            geom,
            code=code,
            name_zh=zh,
            name_en=en,
            zone_type=zone_type,
            responsible_unit=OPERATOR,
            responsible_person=CHEN_JING,
            project_code=project,
            **extra,
        )

    zone(
        "sp-entrance-square",
        "SP-Z01",
        _clear_of_building(box(-125, -325, 125, -100)),
        "南广场入口广场",
        "South entrance square",
        "entrance_square",
        "SP-01",
    )
    zone(
        "sp-flower-display",
        "SP-Z02",
        ellipse(*FLOWER_DISPLAY_CENTRE, 8251.3, 1.6),
        "南广场进博会主题花坛",
        "South plaza CIIE flower display",
        "flower_display",
        "SP-02",
        area_m2=8251.3,
        pots=528_000,
        notes="Placeholder with the 2025 display figures.",
    )
    zone(
        "sp-lighting-south",
        "SP-Z03",
        box(-105, -455, 105, -426),
        "南广场灯光秀区域",
        "South plaza light-show strip",
        "lighting",
        "SP-03",
    )
    zone(
        "sp-walkway-west",
        "SP-Z04",
        box(-125, -455, -107, -330),
        "南广场西侧步道",
        "South plaza west walkway",
        "walkway",
        "SP-04",
    )
    zone(
        "sp-walkway-east",
        "SP-Z05",
        box(107, -455, 125, -330),
        "南广场东侧步道",
        "South plaza east walkway",
        "walkway",
        "SP-04",
    )
    zone(
        "sp-walkway-temp",
        "SP-Z06",
        box(-105, -424, 105, -412),
        "南广场临时施工便道",
        "Temporary construction walkway",
        "walkway",
        "SP-04",
        temporary=True,
        notes="Access for the flower-display installation; to be removed before opening.",
    )


GREEN_WALL_X = -500.0
GREEN_WALL_LEN, GREEN_WALL_GAP, GREEN_WALL_Y0 = 75.0, 3.0, -470.0


GREEN_WALL_DEPTH = 3.0  # a vertical green wall drawn as the thin strip of ground it stands on


def _green_wall(i: int) -> LineString:
    y0 = GREEN_WALL_Y0 + i * (GREEN_WALL_LEN + GREEN_WALL_GAP)
    return LineString([(GREEN_WALL_X, y0), (GREEN_WALL_X, y0 + GREEN_WALL_LEN)])


def strip(line: LineString, width: float) -> Polygon:
    """The area a linear feature (green wall, tree row) covers: landscaping is a layer of areas only,
    so QGIS draws all of it (a layer of one geometry type); its length stays in `length_m`."""
    g = line.buffer(width / 2, cap_style="flat", join_style="mitre")
    assert isinstance(g, Polygon)
    return g


FLOWER_BEDS = (  # id suffix, code, box, zh, en, planned pots
    ("north-gate", "FB-01", (-60, 420, 60, 430), "北门花坛", "North gate flower bed", 41_000),
    ("metro-line2-exit", "FB-02", (440, 410, 470, 430), "地铁2号线出口花坛", "Metro Line 2 exit flower bed", 20_500),
    ("west-gate", "FB-03", (-470, -18, -445, 18), "西门花坛", "West gate flower bed", 30_700),
    ("south-gate", "FB-04", (-100, -463, 100, -456), "南门花坛", "South gate flower bed", 47_800),
)


def _landscaping(h: HistoryBuilder) -> None:
    h.commit(
        "landscaping-projects",
        "2026-07-10T11:00:00+08:00",
        "刘洋 Liu Yang (greening bureau)",
        "Landscaping projects: the 12 vertical green walls on Zhuguang Road (900 m), the 16,500 m² clover "
        "green north of Laigang Road, four core-area flower beds (4,100 m², 140,000 pots planned), lawns and "
        "the street-tree rows along Songze Avenue and Laigang Road.",
    )
    for i in range(12):
        wall = _green_wall(i)
        g = strip(wall, GREEN_WALL_DEPTH)
        h.add(
            "landscaping",
            f"ls-green-wall-{i + 1:02d}",
            g,
            code=f"GW-{i + 1:02d}",
            name_zh=f"诸光路立体绿墙 {i + 1:02d}",
            name_en=f"Zhuguang Road green wall {i + 1:02d}",
            kind="green_wall",
            length_m=_m(wall),
            responsible_unit=QP_GREENING,
            responsible_person=HUANG_LI,
            project_code="LS-03",
        )
    g = clover(800, -380, 16_500)
    h.add(
        "landscaping",
        "ls-clover-green",
        g,
        code="CG-01",
        name_zh="涞港路北侧四叶草绿地",
        name_en="Clover-shaped green north of Laigang Road",
        kind="lawn",
        area_m2=16_500.0,
        responsible_unit=CITY_GREENING,
        responsible_person=LIU_YANG,
        project_code="LS-01",
    )
    for suffix, code, b, zh, en, pots in FLOWER_BEDS:
        g = box(*b)
        h.add(
            "landscaping",
            f"ls-flower-bed-{suffix}",
            g,
            code=code,
            name_zh=zh,
            name_en=en,
            kind="flower_bed",
            area_m2=float(_m2(g)),
            pots=pots,
            responsible_unit=QP_GREENING,
            responsible_person=HUANG_LI,
            project_code="LS-02",
        )
    lawns = (
        ("east", "LW-01", (150, -70, 400, 70), "东侧草坪", "East lawn"),
        ("south-west", "LW-02", (-420, -432, -135, -392), "西南草坪", "South-west lawn"),
        ("south-east", "LW-03", (135, -432, 420, -392), "东南草坪", "South-east lawn"),
    )
    for suffix, code, b, zh, en in lawns:
        x0, y0, x1, y1 = b
        # Lawns are rounded (an ellipse in their box), so they do not read as halls.
        shape = ellipse((x0 + x1) / 2, (y0 + y1) / 2, 0.78 * (x1 - x0) * (y1 - y0), (x1 - x0) / (y1 - y0))
        g = _clear_of_building(shape)
        h.add(
            "landscaping",
            f"ls-lawn-{suffix}",
            g,
            code=code,
            name_zh=zh,
            name_en=en,
            kind="lawn",
            area_m2=float(_m2(g)),
            responsible_unit=OPERATOR,
            responsible_person=ZHOU_MIN,
            project_code="LS-04",
        )
    rows = (
        ("songze", "TR-01", (-460, 455, 460, 455), "崧泽大道行道树", "Street trees, Songze Avenue"),
        ("laigang", "TR-02", (505, -440, 505, 440), "涞港路行道树", "Street trees, Laigang Road"),
    )
    for suffix, code, (x0, y0, x1, y1), zh, en in rows:
        row = LineString([(x0, y0), (x1, y1)])
        trees = tree_row(x0, y0, x1, y1, 20)
        g = strip(row, 8.0)  # the belt the crowns cover
        h.add(
            "landscaping",
            f"ls-trees-{suffix}",
            g,
            code=code,
            name_zh=zh,
            name_en=en,
            kind="trees",
            trees=len(trees.geoms),
            length_m=_m(row),
            responsible_unit=CITY_GREENING,
            responsible_person=LIU_YANG,
            project_code="LS-05",
        )


def _ramp(
    centre: tuple[float, float], a0: float, a1: float, start: tuple[float, float], end: tuple[float, float]
) -> LineString:
    """A ramp's centre line: roads is a layer of lines only (QGIS draws a layer of one geometry type)."""
    return arc_path(start, centre, 60, a0, a1, end)


def _later_commits(h: HistoryBuilder) -> None:
    h.commit(
        "road-works",
        "2026-07-24T15:00:00+08:00",
        "李强 Li Qiang (Qingpu Construction Commission)",
        "Road works from the district's battle map: resurfacing of Zhuguang Road and Yinggang East Road along "
        "the venue (RD-01, RD-02), and burial of the overhead lines on Huizhuo Road (RD-03, State Grid).",
    )
    h.modify("roads", "road-zhuguang-2", works="resurfacing", project_code="RD-01")
    h.modify("roads", "road-yinggang-2", works="resurfacing", project_code="RD-02")
    h.modify(
        "roads",
        "road-huizhuo-1",
        works="overhead_lines_burial",
        project_code="RD-03",
        responsible_unit=POWER,
        responsible_person=SUN_HAO,
    )

    h.commit(
        "songze-laigang-ramps",
        "2026-08-12T09:30:00+08:00",
        "赵磊 Zhao Lei (Qingpu Transport Commission)",
        "Add the two ramps at Songze Avenue × Laigang Road. They opened on 26 October 2024 but were missing from "
        "the June survey; included now for the traffic plan (RD-05: signage and markings renewal).",
    )
    ne = _ramp((640, 560), 180, 270, (580, 620), (700, 500))
    se = _ramp((640, 400), 180, 90, (580, 340), (700, 460))
    for fid, code, g, zh, en in (
        (
            "road-ramp-songze-laigang-ne",
            "RP-01",
            ne,
            "崧泽大道—涞港路匝道（东北）",
            "Songze Avenue × Laigang Road ramp (north-east)",
        ),
        (
            "road-ramp-songze-laigang-se",
            "RP-02",
            se,
            "崧泽大道—涞港路匝道（东南）",
            "Songze Avenue × Laigang Road ramp (south-east)",
        ),
    ):
        h.add(
            "roads",
            fid,
            g,
            code=code,
            name_zh=zh,
            name_en=en,
            road_class="branch",
            works="ramp",
            length_m=_m(g),
            lanes=1,
            responsible_unit=QP_TRANSPORT,
            responsible_person=ZHAO_LEI,
            project_code="RD-05",
            notes="Opened 2024-10-26; centre line approximate.",
        )

    h.commit(
        "green-wall-extension",
        "2026-08-31T17:00:00+08:00",
        "黄丽 Huang Li (Qingpu Greening Bureau)",
        "Green wall GW-12 extended 30 m round the corner onto Songze Avenue, so the Zhuguang Road walls now "
        "total 930 m.",
    )
    last = _green_wall(11)
    (x, y0), (_, y1) = last.coords
    extended = LineString([(x, y0), (x, y1), (x + 30, y1)])
    h.modify(
        "landscaping",
        "ls-green-wall-12",
        strip(extended, GREEN_WALL_DEPTH),
        length_m=_m(extended),
        notes="Extended round the Songze Avenue corner in August 2026.",
    )

    h.commit(
        "flower-display-2026-design",
        "2026-09-18T14:00:00+08:00",
        "徐芳 Xu Fang (flower display design team)",
        "South plaza flower display redrawn to the approved 2026 design: wider and flatter, 9,180 m² with "
        "590,000 pots (was the 2025 placeholder of 8,251.3 m² and 528,000 pots).",
    )
    h.modify(
        "south_plaza",
        "sp-flower-display",
        ellipse(*FLOWER_DISPLAY_CENTRE, 9180.0, 1.75),
        area_m2=9180.0,
        pots=590_000,
        notes="2026 design as approved on 2026-09-16; installation in the last ten days before opening.",
    )

    h.commit(
        "hall-2-renovation",
        "2026-10-09T10:30:00+08:00",
        "周敏 Zhou Min (venue operator, halls)",
        "Record the lighting and ceiling renovation of halls 2.1H and 2.2H as hardware project HL-02.",
    )
    h.modify("halls", "hall-2.1H", project_code="HL-02", notes="Lighting and ceiling renovation (HL-02).")
    h.modify(
        "halls",
        "hall-2.2H",
        project_code="HL-02",
        notes="Upper level over 2.1H; drawn inset by 18 m so both levels show. Lighting and ceiling renovation "
        "(HL-02).",
    )

    h.commit(
        "remove-temporary-walkway",
        "2026-10-20T18:00:00+08:00",
        "马骏 Ma Jun (site coordinator)",
        "Temporary construction walkway on the south plaza removed now the flower display is in; the light-show "
        "strip takes over the freed ground.",
    )
    h.delete("south_plaza", "sp-walkway-temp")
    lighting = box(-105, -455, 105, -412)
    h.modify("south_plaza", "sp-lighting-south", lighting, area_m2=float(_m2(lighting, 1)))

    h.commit(
        "pre-opening-checkpoint",
        "2026-10-28T21:00:00+08:00",
        "郭晖 Guo Hui (district battle-map office)",
        "Pre-opening checkpoint: flower beds counted as installed (the north and south gates took more pots than "
        "planned) and a fifth bed added at the Metro Line 17 exit on Zhuguang Road.",
    )
    h.modify("landscaping", "ls-flower-bed-north-gate", pots=43_200)
    h.modify("landscaping", "ls-flower-bed-south-gate", pots=50_400)
    fb5 = box(-470, 200, -445, 236)
    h.add(
        "landscaping",
        "ls-flower-bed-metro-line17-exit",
        fb5,
        code="FB-05",
        name_zh="地铁17号线出口花坛",
        name_en="Metro Line 17 exit flower bed",
        kind="flower_bed",
        area_m2=float(_m2(fb5)),
        pots=28_000,
        responsible_unit=QP_GREENING,
        responsible_person=HUANG_LI,
        project_code="LS-02",
    )


def build_history() -> list[CommitSpec]:
    """Every commit of the bundled history, oldest first, with geometry in local metres."""
    h = HistoryBuilder()
    _initial_survey(h)
    _south_plaza(h)
    _landscaping(h)
    _later_commits(h)
    return h.commits


# ============================================================================ writing
def feature_json(e: Entry) -> dict[str, Any]:
    if e.op == "delete":
        return {
            "type": "Feature",
            "id": e.feature_id,
            "twin:layer": e.layer,
            "twin:op": "delete",
            "geometry": None,
            "properties": None,
        }
    assert e.geometry is not None
    return {
        "type": "Feature",
        "id": e.feature_id,
        "twin:layer": e.layer,
        "twin:op": e.op,
        "geometry": mapping(to_lonlat(e.geometry)),
        "properties": e.properties,
    }


def change_file_bytes(c: CommitSpec) -> bytes:
    """A change file with one feature per line, so a regenerated file diffs line by line."""
    meta = {"author": c.author, "message": c.message, "time": c.time}
    lines = [orjson.dumps(feature_json(e)) for e in c.entries]
    return (
        b'{"type": "FeatureCollection",\n"twin:commit": '
        + orjson.dumps(meta)
        + b',\n"features": [\n'
        + b",\n".join(lines)
        + b"\n]}\n"
    )


def check(commits: Iterable[CommitSpec]) -> None:
    """Fail loudly if any generated geometry is invalid, outside the area of interest or of a wrong type."""
    for c in commits:
        for e in c.entries:
            if e.geometry is None:
                continue
            g = to_lonlat(e.geometry)
            schema = LAYERS_BY_NAME[e.layer]
            if g.geom_type not in schema.geometry_types:
                raise ValueError(f"{c.slug}: {e.layer}/{e.feature_id} is a {g.geom_type}")
            if not g.is_valid:
                raise ValueError(f"{c.slug}: {e.layer}/{e.feature_id}: {shapely.is_valid_reason(g)}")
            if not g.within(AREA_OF_INTEREST):
                raise ValueError(f"{c.slug}: {e.layer}/{e.feature_id} lies outside the area of interest")


def write_history(outdir: str | Path = HISTORY_DIR) -> list[Path]:
    """(Re)write the history change files into `outdir`, removing stale ones; return the paths in order."""
    commits = build_history()
    check(commits)
    return write_numbered(outdir, [(c.slug, change_file_bytes(c)) for c in commits])


def write_numbered(outdir: str | Path, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write change files as NNN-slug.geojson in order, removing stale ones; return the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("[0-9][0-9][0-9]-*.geojson"):
        old.unlink()
    paths: list[Path] = []
    for n, (slug, data) in enumerate(files, start=1):
        p = outdir / f"{n:03d}-{slug}.geojson"
        p.write_bytes(data)
        paths.append(p)
    return paths


def main() -> None:
    for p in write_history():
        print(p)


if __name__ == "__main__":
    main()
