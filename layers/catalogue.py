"""The venue's layer catalogue: the five venue layers, the project register and the area of interest.

Every layer names its features in Chinese and English and gives each a unique human code.
Features that belong to a CIIE "hardware" preparation project (south-plaza zones, road works,
landscaping, hall renovation) also say which unit and person answer for them and, where there
is one, the project they belong to (`project_code`, e.g. "SP-01", "RD-03", "LS-12", "HL-02"),
the key the project register (`projects`, a layer of records without geometry) joins on.

Positions in the bundled data are approximate (about ±150 m, see the venue facts) until a
surveyed layer is imported; every schema says so through `positions_approximate`.
"""

from __future__ import annotations

from shapely.geometry import Polygon, box

from twin.model import FieldSpec, LayerSchema

# Lon/lat (EPSG:4326). Generous around the site (about 31.187–31.196 N, 121.292–121.303 E) so the
# surrounding roads, the P5 car park walkway and the Songze Avenue × Laigang Road ramps fit with
# room to spare: about 5.2 km east–west by 4.7 km north–south.
AREA_OF_INTEREST: Polygon = box(121.270, 31.170, 121.325, 31.212)


# ---------------------------------------------------------------------------- shared fields
def _naming(code_zh: str, code_en: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("code", "string", required=True, title_zh=code_zh, title_en=code_en),
        FieldSpec("name_zh", "string", required=True, title_zh="中文名称", title_en="Name (Chinese)"),
        FieldSpec("name_en", "string", required=True, title_zh="英文名称", title_en="Name (English)"),
    )


def _responsibility(required: bool) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("responsible_unit", "string", required=required, title_zh="责任单位", title_en="Responsible unit"),
        FieldSpec("responsible_person", "string", title_zh="责任人", title_en="Responsible person"),
        FieldSpec("project_code", "string", title_zh="项目编号", title_en="Hardware project code"),
    )


_NOTES = FieldSpec("notes", "string", title_zh="备注", title_en="Notes")

AREA_M2 = FieldSpec("area_m2", "number", unit="m²", title_zh="面积", title_en="Area")
LENGTH_M = FieldSpec("length_m", "number", unit="m", title_zh="长度", title_en="Length")
POTS = FieldSpec("pots", "integer", unit="pots", title_zh="花盆数量", title_en="Flower pots")


# ---------------------------------------------------------------------------- allowed values
# Each value with what people call it, in Chinese and English: the schema keeps them beside the
# allowed values (FieldSpec.labels), and the pages show the label with the code kept for engineers.
def _labelled(values: dict[str, tuple[str, str]]) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    return tuple(values), tuple((v, zh, en) for v, (zh, en) in values.items())


BOUNDARY_TYPES, BOUNDARY_TYPE_LABELS = _labelled(
    {"site": ("用地红线", "Site"), "core_area": ("核心区", "Core area"), "building": ("主体建筑", "Building")}
)
HALL_LEVELS, HALL_LEVEL_LABELS = _labelled(
    {"0m": ("0米层（地面层）", "Ground level (0 m)"), "16m": ("16米层（上层）", "Upper level (16 m)")}
)
HALL_TYPES, HALL_TYPE_LABELS = _labelled(
    {
        "exhibition": ("展厅", "Exhibition hall"),
        "plaza": ("广场", "Plaza"),
        "convention": ("会议中心", "Convention centre"),
    }
)
ZONE_TYPES, ZONE_TYPE_LABELS = _labelled(
    {
        "entrance_square": ("入口广场", "Entrance square"),
        "flower_display": ("花卉布置", "Flower display"),
        "lighting": ("灯光", "Lighting"),
        "walkway": ("步道", "Walkway"),
    }
)
ROAD_CLASSES, ROAD_CLASS_LABELS = _labelled(
    {
        "arterial": ("主干路", "Arterial road"),
        "secondary": ("次干路", "Secondary road"),
        "branch": ("支路", "Branch road"),
        "internal": ("场内道路", "Internal road"),
        "pedestrian": ("人行道路", "Pedestrian way"),
    }
)
ROAD_WORKS, ROAD_WORKS_LABELS = _labelled(
    {
        "none": ("无", "None"),
        "resurfacing": ("路面翻新", "Resurfacing"),
        "overhead_lines_burial": ("架空线入地", "Overhead lines burial"),
        "ramp": ("匝道", "Ramp"),
        "walkway": ("步道", "Walkway"),
        "widening": ("道路拓宽", "Widening"),
        "tunnel": ("地下通道", "Tunnel"),
    }
)
LANDSCAPING_KINDS, LANDSCAPING_KIND_LABELS = _labelled(
    {
        "flower_bed": ("花坛", "Flower bed"),
        "green_wall": ("绿墙", "Green wall"),
        "lawn": ("草坪", "Lawn"),
        "trees": ("行道树", "Street trees"),
    }
)

POLYGONAL = ("Polygon", "MultiPolygon")
LINEAR = ("LineString", "MultiLineString")

# ---------------------------------------------------------------------------- the layers
VENUE_BOUNDARY = LayerSchema(
    name="venue_boundary",
    title_zh="场馆红线",
    title_en="Venue boundary",
    geometry_types=POLYGONAL,
    fields=(
        *_naming("边界编号", "Boundary code"),
        FieldSpec(
            "boundary_type",
            "string",
            required=True,
            allowed=BOUNDARY_TYPES,
            title_zh="边界类型",
            title_en="Boundary type",
            labels=BOUNDARY_TYPE_LABELS,
        ),
        FieldSpec("area_ha", "number", unit="ha", title_zh="面积", title_en="Area"),
        _NOTES,
    ),
    code_field="code",
    description="The site of the National Exhibition and Convention Center (Shanghai), about 86 ha, the outline "
    "of its one four-leaf-clover building, and the 2018 CIIE core area around it. / 国家会展中心（上海）用地范围"
    "（约86公顷）、四叶草主体建筑轮廓及2018年进博会核心区。",
)

HALLS = LayerSchema(
    name="halls",
    title_zh="展馆",
    title_en="Halls",
    geometry_types=POLYGONAL,
    fields=(
        *_naming("展馆编号", "Hall code"),
        FieldSpec(
            "level",
            "string",
            required=True,
            allowed=HALL_LEVELS,
            title_zh="楼层标高",
            title_en="Level",
            labels=HALL_LEVEL_LABELS,
        ),
        FieldSpec(
            "hall_type",
            "string",
            required=True,
            allowed=HALL_TYPES,
            title_zh="展馆类型",
            title_en="Hall type",
            labels=HALL_TYPE_LABELS,
        ),
        FieldSpec("floor_area_m2", "number", unit="m²", title_zh="展厅面积", title_en="Floor area"),
        *_responsibility(required=True),
        _NOTES,
    ),
    code_field="code",
    description="Exhibition halls of the four-leaf-clover plan around the central plaza (GC), the West Hall "
    "(NH, the convention centre). Upper-level (16 m) halls stand over the hall below them and are drawn "
    "inset within it, so both levels show; `level` says which. / 四叶草造型展馆：0米层与16米层展厅、中央广场（GC）、"
    "西厅（NH，会议中心）。16米层展厅位于0米层展厅之上，绘制为其内缩轮廓，以`level`区分楼层。",
)

SOUTH_PLAZA = LayerSchema(
    name="south_plaza",
    title_zh="南广场",
    title_en="South plaza",
    geometry_types=POLYGONAL,
    fields=(
        *_naming("分区编号", "Zone code"),
        FieldSpec(
            "zone_type",
            "string",
            required=True,
            allowed=ZONE_TYPES,
            title_zh="分区类型",
            title_en="Zone type",
            labels=ZONE_TYPE_LABELS,
        ),
        AREA_M2,
        POTS,
        FieldSpec("temporary", "boolean", title_zh="临时设施", title_en="Temporary"),
        *_responsibility(required=True),
        _NOTES,
    ),
    code_field="code",
    description="Zones of the south square, the main entrance: entrance square, the CIIE flower display, "
    "lighting and walkways. / 南广场（主入口）分区：入口广场、进博会花卉布置、灯光、步道。",
)

ROADS = LayerSchema(
    name="roads",
    title_zh="道路",
    title_en="Roads",
    geometry_types=LINEAR,
    fields=(
        *_naming("路段编号", "Segment code"),
        FieldSpec(
            "road_class",
            "string",
            required=True,
            allowed=ROAD_CLASSES,
            title_zh="道路等级",
            title_en="Road class",
            labels=ROAD_CLASS_LABELS,
        ),
        FieldSpec(
            "works", "string", allowed=ROAD_WORKS, title_zh="工程内容", title_en="Works", labels=ROAD_WORKS_LABELS
        ),
        LENGTH_M,
        FieldSpec("lanes", "integer", unit="lanes", title_zh="车道数", title_en="Lanes"),
        *_responsibility(required=True),
        _NOTES,
    ),
    code_field="code",
    description="Road segments around and inside the venue, ramps, walkways and the Metro exit passages, as "
    "centre lines, with the preparation works on them. / 场馆周边及内部道路、匝道、步道及地铁出口通道（中心线），"
    "及迎进博整治工程。",
)

LANDSCAPING = LayerSchema(
    name="landscaping",
    title_zh="绿化景观",
    title_en="Landscaping",
    geometry_types=POLYGONAL,
    fields=(
        *_naming("景观编号", "Landscaping code"),
        FieldSpec(
            "kind",
            "string",
            required=True,
            allowed=LANDSCAPING_KINDS,
            title_zh="类型",
            title_en="Kind",
            labels=LANDSCAPING_KIND_LABELS,
        ),
        AREA_M2,
        LENGTH_M,
        POTS,
        FieldSpec("trees", "integer", unit="trees", title_zh="树木数量", title_en="Trees"),
        *_responsibility(required=True),
        _NOTES,
    ),
    code_field="code",
    description="Greening and city-appearance works as areas: flower beds, vertical green walls (the strip they "
    "stand on, length in length_m), lawns and street-tree belts (tree count in trees). / 绿化市容工程（面）："
    "花坛、立体绿墙（占地带，长度见length_m）、草坪、行道树带（株数见trees）。",
)

# ---------------------------------------------------------------------------- the project register
# A table of records (no geometry): one record per CIIE hardware project, versioned like every
# layer, so who changed a deadline or reported progress, and when, is in the twin's history.
# The latest progress report sits on the record itself; its earlier reports are the record's
# earlier versions (see `completion/`).
PROJECT_AREAS, PROJECT_AREA_LABELS = _labelled(
    {
        "south_plaza": ("南广场", "South plaza"),
        "halls": ("展馆", "Halls"),
        "roads": ("道路", "Roads"),
        "landscaping": ("绿化景观", "Landscaping"),
    }
)  # the venue layers, titled as they are
PROJECT_CATEGORIES, PROJECT_CATEGORY_LABELS = _labelled(
    {
        "venue_renovation": ("场馆改造", "Venue renovation"),
        "support_road": ("配套道路", "Support road"),
        "city_appearance": ("城市容貌", "City appearance"),
        "landscaping": ("绿化景观", "Landscaping"),
        "lighting": ("灯光照明", "Lighting"),
        # beyond the five known ones, those the bundled register uses (layers/projects_demo.py)
        "wayfinding": ("导向标识", "Wayfinding"),
        "traffic_facilities": ("交通设施", "Traffic facilities"),
    }
)  # known; others allowed (and shown as they are, until `layer alter` gives them labels)
QUANTITY_UNITS, QUANTITY_UNIT_LABELS = _labelled(
    {
        "m²": ("平方米", "m²"),
        "m": ("米", "m"),
        "pots": ("盆", "pots"),
        "lamps": ("盏", "lamps"),
        "items": ("项", "items"),
    }
)
PLAN_CURVES, PLAN_CURVE_LABELS = _labelled({"linear": ("线性", "Linear"), "s_curve": ("S曲线", "S-curve")})

PROJECTS = LayerSchema(
    name="projects",
    title_zh="硬件项目",
    title_en="Hardware projects",
    geometry_types=(),
    fields=(
        *_naming("项目编号", "Project code"),
        FieldSpec(
            "category",
            "string",
            required=True,
            title_zh="项目类别",
            title_en="Category",
            labels=PROJECT_CATEGORY_LABELS,
        ),
        FieldSpec(
            "area",
            "string",
            required=True,
            allowed=PROJECT_AREAS,
            title_zh="所属区域",
            title_en="Area",
            labels=PROJECT_AREA_LABELS,
        ),
        FieldSpec("features", "list", title_zh="涉及要素", title_en="Features (layer/feature id)"),
        FieldSpec("responsible_unit", "string", required=True, title_zh="责任单位", title_en="Responsible unit"),
        FieldSpec("responsible_person", "string", title_zh="责任人", title_en="Responsible person"),
        FieldSpec("planned_start", "date", required=True, title_zh="计划开工", title_en="Planned start"),
        FieldSpec("planned_finish", "date", required=True, title_zh="计划完工", title_en="Planned finish"),
        FieldSpec("quantity", "number", required=True, title_zh="工程量", title_en="Quantity"),
        FieldSpec(
            "quantity_unit",
            "string",
            required=True,
            allowed=QUANTITY_UNITS,
            title_zh="计量单位",
            title_en="Quantity unit",
            labels=QUANTITY_UNIT_LABELS,
        ),
        FieldSpec("weight", "number", title_zh="权重", title_en="Weight (share of its area)"),
        FieldSpec(
            "curve", "string", allowed=PLAN_CURVES, title_zh="计划曲线", title_en="Plan curve", labels=PLAN_CURVE_LABELS
        ),
        FieldSpec("percent_complete", "number", unit="%", title_zh="完成百分比", title_en="Percent complete"),
        FieldSpec("progress_date", "date", title_zh="进度日期", title_en="Progress as of"),
        FieldSpec("progress_reporter", "string", title_zh="填报人", title_en="Reported by"),
        FieldSpec("progress_note", "string", title_zh="进度说明", title_en="Progress note"),
        FieldSpec("progress_reason", "string", title_zh="进度回调原因", title_en="Reason for a lower figure"),
    ),
    code_field="code",
    description="The register of CIIE hardware projects (venue renovation, support roads, city appearance, "
    "landscaping, lighting, ...): what, where, who answers for it, when it is planned and how far it has got. "
    "Records without geometry; `features` lists the layer features each project covers. / 进博会硬件项目清单："
    "项目、区域、责任单位与责任人、计划工期及最新进度（无几何，`features`列出涉及的图层要素）。",
    positions_approximate=False,
    rules=("hardware-project-register",),  # checked by completion.reports.project_rule on every write
)

LAYERS: tuple[LayerSchema, ...] = (VENUE_BOUNDARY, HALLS, SOUTH_PLAZA, ROADS, LANDSCAPING, PROJECTS)
LAYERS_BY_NAME: dict[str, LayerSchema] = {s.name: s for s in LAYERS}
