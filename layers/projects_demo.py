"""The bundled project register and its 2026 preparation season of progress reports.

Run `python -m layers.projects_demo` to regenerate `layers/data/history/projects/NNN-slug.geojson`,
one change file per commit (records without geometry, see `layers.changefile`). The output is
deterministic and `tests/test_completion_demo.py` checks the committed files are current.

The scenario (illustrative, built on the published facts of earlier years; persons fictitious):

- 2026-07-20: the district battle-map office registers 59 hardware projects over the four areas
  (south plaza, halls, roads, landscaping), each with its unit, person, planned dates and quantity,
  and the venue features it covers.
- Every ten days from T-100 (2026-07-28) to T-10 (2026-10-26) each unit's liaison reports the
  progress of the unit's started projects: one commit per liaison and checkpoint, dated that
  afternoon, whose author is the liaison.
- The register changes on the way: RD-05 takes in the Songze Avenue × Laigang Road ramps once they
  are on the map (08-12), SP-11 is added (08-20), RD-03's deadline moves from 10-10 to 10-25 when
  State Grid's outage window slips (09-05), and SP-02 takes the approved 2026 display figures (09-19).
- Most projects run to plan (within a few days), some finish early, a resurfacing job is set back
  by a failed inspection (a lower figure, with its reason), and a few run late: by T-10 three
  of them are forecast to finish after opening day.

Reports obey the register's rules (`completion.reports.check_report`): none before a project's
planned start, none above 100%, a lower figure only with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from completion.register import Project
from completion.reports import ProgressReport, check_report, report_properties
from completion.schedule import curve_value
from layers.venue_geometry import (
    CHEN_JING,
    CITY_GREENING,
    HUANG_LI,
    LI_QIANG,
    LIU_YANG,
    OPERATOR,
    POWER,
    QP_CONSTRUCTION,
    QP_GREENING,
    QP_TRANSPORT,
    SUN_HAO,
    ZHAO_LEI,
    ZHOU_MIN,
    write_numbered,
)

OUT_DIR = Path(__file__).parent / "data" / "history" / "projects"
OPENING = date(2026, 11, 5)
FIRST_REPORT = 100  # T-100
LAST_REPORT = 10  # T-10

XUJING = "青浦区徐泾镇人民政府 (Xujing Town Government, Qingpu)"

MA_JUN, JIANG_WEI, XU_FANG = "马骏 Ma Jun", "蒋伟 Jiang Wei", "徐芳 Xu Fang"
WANG_FANG, QIAN_BIN, FENG_TING = "王芳 Wang Fang", "钱斌 Qian Bin", "冯婷 Feng Ting"
HE_JING, LIN_FENG, HAN_BING = "何静 He Jing", "林峰 Lin Feng", "韩冰 Han Bing"
WU_TAO, ZHU_LIN = "吴涛 Wu Tao", "朱琳 Zhu Lin"

OFFICE = "郭晖 Guo Hui (district battle-map office)"

# The liaison who reports each unit's progress (the author of its progress commits), in the
# order they report on a checkpoint afternoon.
LIAISONS = {
    "halls": "周敏 Zhou Min (venue operator, halls)",
    "plaza": "陈静 Chen Jing (venue operator, south plaza)",
    "construction": "李强 Li Qiang (Qingpu Construction Commission)",
    "transport": "赵磊 Zhao Lei (Qingpu Transport Commission)",
    "power": "孙浩 Sun Hao (State Grid Shanghai)",
    "qp_greening": "黄丽 Huang Li (Qingpu Greening Bureau)",
    "city_greening": "刘洋 Liu Yang (Shanghai Greening Bureau)",
    "xujing": "吴涛 Wu Tao (Xujing Town Government)",
}
UNIT_OF_LIAISON = {
    "halls": OPERATOR,
    "plaza": OPERATOR,
    "construction": QP_CONSTRUCTION,
    "transport": QP_TRANSPORT,
    "power": POWER,
    "qp_greening": QP_GREENING,
    "city_greening": CITY_GREENING,
    "xujing": XUJING,
}
SLUG = {
    "halls": "operator-halls",
    "plaza": "operator-south-plaza",
    "construction": "qingpu-construction",
    "transport": "qingpu-transport",
    "power": "state-grid",
    "qp_greening": "qingpu-greening",
    "city_greening": "city-greening",
    "xujing": "xujing-town",
}


@dataclass(frozen=True)
class Pace:
    """How the work really goes: the plan shifted by ``delay`` days and run at ``speed``."""

    delay: float = 0.0
    speed: float = 1.0


@dataclass
class Spec:
    code: str
    name_zh: str
    name_en: str
    category: str
    area: str
    features: tuple[str, ...]
    liaison: str
    person: str
    start: str
    finish: str
    quantity: float
    unit: str
    curve: str = "linear"
    pace: Pace = field(default_factory=Pace)
    series: dict[int, int] | None = None  # explicit percent at T-n, for the projects with a story
    notes: dict[int, str] = field(default_factory=dict)  # T-n -> progress note
    reasons: dict[int, str] = field(default_factory=dict)  # T-n -> reason for a lower figure
    weight: float | None = None


def _walls() -> tuple[str, ...]:
    return tuple(f"landscaping/ls-green-wall-{i:02d}" for i in range(1, 13))


H, P, R, L = "halls", "south_plaza", "roads", "landscaping"
REG = "venue_renovation"
ROAD = "support_road"
CITY = "city_appearance"
GREEN = "landscaping"
LIGHT = "lighting"
SIGNS = "wayfinding"  # categories beyond the five known ones are the users' own
TRAFFIC = "traffic_facilities"

# fmt: off
SPECS: tuple[Spec, ...] = (
    # ------------------------------------------------------------------ halls (venue operator)
    Spec("HL-01", "中央广场雨棚及标识更新", "Central plaza canopy and signage refresh", REG, H, ("halls/hall-GC",),
         "halls", ZHOU_MIN, "2026-07-20", "2026-09-30", 12_000, "m²", pace=Pace(1)),
    Spec("HL-02", "2号馆照明及吊顶改造", "Halls 2.1H/2.2H lighting and ceiling renovation", REG, H,
         ("halls/hall-2.1H", "halls/hall-2.2H"), "halls", MA_JUN, "2026-07-25", "2026-10-20", 59_200, "m²",
         curve="s_curve", pace=Pace(5)),
    Spec("HL-03", "1号馆地毯更换", "Halls 1.1H/1.2H carpet replacement", REG, H,
         ("halls/hall-1.1H", "halls/hall-1.2H"), "halls", JIANG_WEI, "2026-09-01", "2026-10-15", 59_000, "m²"),
    Spec("HL-04", "3号馆地坪修缮", "Hall 3H floor repair", REG, H, ("halls/hall-3H",), "halls", JIANG_WEI,
         "2026-08-10", "2026-09-20", 29_500, "m²", pace=Pace(0, 1.2)),
    Spec("HL-05", "4号馆卫生间提升", "Halls 4.1H/4.2H restroom upgrade", REG, H,
         ("halls/hall-4.1H", "halls/hall-4.2H"), "halls", MA_JUN, "2026-08-01", "2026-10-10", 24, "items",
         pace=Pace(2)),
    Spec("HL-06", "5号馆空调系统检修", "Halls 5.1H/5.2H air-conditioning overhaul", REG, H,
         ("halls/hall-5.1H", "halls/hall-5.2H"), "halls", ZHOU_MIN, "2026-08-15", "2026-10-15", 36, "items",
         pace=Pace(-1)),
    Spec("HL-07", "6号馆LED照明改造", "Halls 6.1H/6.2H LED lighting retrofit", LIGHT, H,
         ("halls/hall-6.1H", "halls/hall-6.2H"), "halls", MA_JUN, "2026-08-20", "2026-10-20", 1_800, "lamps",
         curve="s_curve", pace=Pace(15, 0.8),
         notes={40: "LED fittings delivered in part; supplier short of drivers 灯具驱动缺货",
                10: "Second supplier engaged; night shifts from 10-20 夜间加班"}),
    Spec("HL-08", "7号馆消防设施检测", "Halls 7.1H/7.2H fire-safety systems inspection", REG, H,
         ("halls/hall-7.1H", "halls/hall-7.2H"), "halls", ZHOU_MIN, "2026-09-10", "2026-10-10", 48, "items"),
    Spec("HL-09", "8号馆导向标识", "Halls 8.1H/8.2H wayfinding signage", SIGNS, H,
         ("halls/hall-8.1H", "halls/hall-8.2H"), "halls", JIANG_WEI, "2026-09-01", "2026-10-25", 420, "items",
         pace=Pace(12, 1.15), notes={30: "Sign design re-approved on 09-28 设计重新报批"}),
    Spec("HL-10", "西厅会议室音视频系统", "NH West Hall meeting-room AV systems", REG, H, ("halls/hall-NH",),
         "halls", MA_JUN, "2026-08-05", "2026-10-25", 60, "items", curve="s_curve", pace=Pace(-2)),
    Spec("HL-11", "西厅外立面清洗", "NH West Hall facade cleaning", CITY, H, ("halls/hall-NH",), "halls",
         JIANG_WEI, "2026-10-05", "2026-10-25", 18_000, "m²"),
    Spec("HL-12", "展馆无障碍坡道", "Accessibility ramps at halls 1-8", REG, H,
         tuple(f"halls/hall-{c}H" for c in ("1.1", "2.1", "3", "4.1", "5.1", "6.1", "7.1", "8.1")), "halls",
         ZHOU_MIN, "2026-08-01", "2026-09-15", 32, "items", pace=Pace(0, 1.1)),
    Spec("HL-13", "中央广场夜景照明", "Central plaza night lighting", LIGHT, H, ("halls/hall-GC",), "halls",
         MA_JUN, "2026-09-01", "2026-10-20", 860, "lamps", curve="s_curve", pace=Pace(1)),
    Spec("HL-14", "展馆屋面防水修补", "Hall roof waterproofing repairs", REG, H,
         ("halls/hall-5.1H", "halls/hall-6.1H", "halls/hall-7.1H", "halls/hall-8.1H"), "halls", JIANG_WEI,
         "2026-07-20", "2026-09-10", 16_000, "m²",
         series={100: 12, 90: 30, 80: 38, 70: 45, 60: 66, 50: 90, 40: 100},
         notes={80: "Typhoon rain stopped roof work for a week 台风停工", 70: "Roof work resumed 复工",
                40: "Completed 完工"}),
    Spec("HL-15", "16米层连廊整修", "Upper-level (16 m) corridor refurbishment", REG, H,
         ("halls/hall-4.2H", "halls/hall-5.2H"), "halls", ZHOU_MIN, "2026-08-25", "2026-10-15", 1_200, "m",
         pace=Pace(4)),
    # ------------------------------------------------------------------ south plaza
    Spec("SP-01", "南广场入口广场铺装更新", "South entrance square paving renewal", REG, P,
         ("south_plaza/sp-entrance-square",), "plaza", CHEN_JING, "2026-07-22", "2026-09-20", 28_750, "m²",
         pace=Pace(-1)),
    Spec("SP-02", "南广场进博会主题花坛", "South plaza CIIE flower display", GREEN, P,
         ("south_plaza/sp-flower-display",), "plaza", XU_FANG, "2026-10-22", "2026-11-01", 528_000, "pots",
         curve="s_curve", series={10: 32}, weight=0.25,
         notes={10: "Installation under way; 190,000 pots placed 已摆放19万盆"}),
    Spec("SP-03", "南广场灯光秀", "South plaza light show", LIGHT, P, ("south_plaza/sp-lighting-south",), "plaza",
         CHEN_JING, "2026-09-10", "2026-10-28", 640, "lamps", curve="s_curve", pace=Pace(5)),
    Spec("SP-04", "南广场东西步道翻新", "South plaza east and west walkways resurfacing", ROAD, P,
         ("south_plaza/sp-walkway-west", "south_plaza/sp-walkway-east"), "plaza", CHEN_JING, "2026-08-01",
         "2026-09-10", 7_400, "m²"),
    Spec("SP-05", "安检棚搭建", "Security screening canopies", REG, P, ("south_plaza/sp-entrance-square",),
         "plaza", MA_JUN, "2026-10-10", "2026-10-30", 40, "items", pace=Pace(-1)),
    Spec("SP-06", "旗杆及进博会标志", "Flagpoles and CIIE emblem", CITY, P, ("south_plaza/sp-entrance-square",),
         "plaza", CHEN_JING, "2026-09-15", "2026-10-20", 36, "items"),
    Spec("SP-07", "南广场导向标识", "South plaza wayfinding signs", SIGNS, P,
         ("south_plaza/sp-entrance-square", "south_plaza/sp-walkway-west", "south_plaza/sp-walkway-east"),
         "plaza", CHEN_JING, "2026-09-20", "2026-10-25", 120, "items", pace=Pace(2)),
    Spec("SP-08", "花坛滴灌系统", "Flower display drip irrigation", GREEN, P, ("south_plaza/sp-flower-display",),
         "plaza", XU_FANG, "2026-09-25", "2026-10-20", 2_400, "m"),
    Spec("SP-09", "花坛景观灯", "Landscape lamps around the flower display", LIGHT, P,
         ("south_plaza/sp-flower-display",), "plaza", CHEN_JING, "2026-10-01", "2026-10-28", 260, "lamps",
         series={30: 5, 20: 15, 10: 35},
         notes={30: "Lamps on order; delivery slipped to mid-October 灯具延期到货",
                10: "Half the lamps delivered; cabling follows the flower display 电缆随花坛敷设"}),
    Spec("SP-10", "接驳巴士临时停靠区", "Temporary shuttle-bus bays", ROAD, P, ("south_plaza/sp-entrance-square",),
         "plaza", MA_JUN, "2026-09-01", "2026-10-10", 3_600, "m²"),
    # SP-11 is added on 2026-08-20 (see ADDED_LATER).
    # ------------------------------------------------------------------ roads
    Spec("RD-01", "诸光路路面翻新", "Zhuguang Road resurfacing", ROAD, R, ("roads/road-zhuguang-2",),
         "construction", LI_QIANG, "2026-07-25", "2026-09-25", 22_000, "m²",
         series={100: 3, 90: 18, 80: 36, 70: 62, 60: 55, 50: 74, 40: 92, 30: 100},
         reasons={60: "Inspection on 09-04 failed 1,500 m² for flatness; milled off to be relaid "
                      "验收不合格1500平方米，铣刨重铺"},
         notes={60: "Relaying the failed section 返工", 30: "Completed and accepted 完工验收"}),
    Spec("RD-02", "盈港东路路面翻新", "Yinggang East Road resurfacing", ROAD, R, ("roads/road-yinggang-2",),
         "construction", WANG_FANG, "2026-08-01", "2026-10-10", 25_000, "m²", pace=Pace(1)),
    Spec("RD-03", "会卓路架空线入地", "Huizhuo Road overhead lines burial", CITY, R, ("roads/road-huizhuo-1",),
         "power", SUN_HAO, "2026-07-28", "2026-10-10", 1_280, "m",
         series={100: 2, 90: 8, 80: 10, 70: 10, 60: 14, 50: 24, 40: 35, 30: 46, 20: 58, 10: 70},
         notes={80: "Waiting for the grid outage window 等待停电窗口", 70: "Outage window not yet granted",
                60: "Outage window granted from 09-01; cable pulling resumed 恢复施工",
                10: "Two of five sections energised 五段中两段已送电"}),
    Spec("RD-04", "崧泽大道（场馆段）路面翻新", "Songze Avenue resurfacing (venue section)", ROAD, R,
         ("roads/road-songze-2",), "construction", LI_QIANG, "2026-08-15", "2026-10-15", 30_000, "m²",
         curve="s_curve", pace=Pace(-1)),
    Spec("RD-05", "崧泽大道—涞港路匝道标志标线", "Songze Avenue x Laigang Road ramps: signs and markings", ROAD, R,
         ("roads/road-songze-2", "roads/road-laigang-1"), "transport", ZHAO_LEI, "2026-08-15", "2026-10-10",
         160, "items"),
    Spec("RD-06", "涞港路路面翻新", "Laigang Road resurfacing", ROAD, R,
         ("roads/road-laigang-1", "roads/road-laigang-2"), "construction", WANG_FANG, "2026-08-20", "2026-10-20",
         18_500, "m²", pace=Pace(6), notes={20: "Asphalt plant allocation cut for a week 沥青供应不足"}),
    Spec("RD-07", "内部环路修缮", "Internal ring road repairs", ROAD, R,
         ("roads/road-internal-north", "roads/road-internal-east", "roads/road-internal-west"), "halls",
         ZHOU_MIN, "2026-07-28", "2026-09-30", 15_300, "m²"),
    Spec("RD-08", "南侧内部道路修缮", "Internal south roads repairs", ROAD, R,
         ("roads/road-internal-south-west", "roads/road-internal-south-east"), "halls", MA_JUN, "2026-09-01",
         "2026-10-15", 4_900, "m²", pace=Pace(1)),
    Spec("RD-09", "P5人行天桥整修", "P5 raised walkway refurbishment", REG, R, ("roads/road-walkway-p5",), "halls",
         JIANG_WEI, "2026-08-01", "2026-10-10", 847, "m", pace=Pace(0, 1.15)),
    Spec("RD-10", "诸光路路灯更新", "Zhuguang Road street lights", LIGHT, R, ("roads/road-zhuguang-2",),
         "construction", QIAN_BIN, "2026-08-20", "2026-10-10", 120, "lamps"),
    Spec("RD-11", "崧泽大道路灯更新", "Songze Avenue street lights", LIGHT, R,
         ("roads/road-songze-1", "roads/road-songze-2", "roads/road-songze-3"), "construction", QIAN_BIN,
         "2026-09-01", "2026-10-20", 210, "lamps", pace=Pace(5)),
    Spec("RD-12", "场馆周边交通信号及标志", "Traffic signals and signs around the venue", TRAFFIC, R,
         ("roads/road-zhuguang-2", "roads/road-yinggang-2", "roads/road-songze-2", "roads/road-laigang-1"),
         "transport", FENG_TING, "2026-08-10", "2026-10-20", 86, "items", pace=Pace(-2)),
    Spec("RD-13", "盈港东路架空线入地", "Yinggang East Road overhead lines burial", CITY, R,
         ("roads/road-yinggang-2",), "power", HAN_BING, "2026-07-20", "2026-09-30", 1_150, "m", pace=Pace(1)),
    Spec("RD-14", "道路标线重划", "Road markings repainting", ROAD, R,
         ("roads/road-yinggang-1", "roads/road-yinggang-2", "roads/road-yinggang-3"), "transport", FENG_TING,
         "2026-09-20", "2026-10-25", 14_200, "m"),
    Spec("RD-15", "崧泽大道公交站亭更新", "Songze Avenue bus shelters renewal", CITY, R, ("roads/road-songze-2",),
         "transport", ZHAO_LEI, "2026-09-01", "2026-10-15", 12, "items", pace=Pace(-3)),
    Spec("RD-16", "诸光路沿街立面整治", "Zhuguang Road street facades renovation", CITY, R,
         ("roads/road-zhuguang-2",), "xujing", WU_TAO, "2026-08-01", "2026-10-15", 36_000, "m²",
         curve="s_curve", pace=Pace(11, 1.05),
         notes={40: "Owners of three buildings yet to agree 三栋楼业主未签约",
                10: "All owners signed; scaffolding on the last block 最后一栋搭设脚手架"}),
    Spec("RD-17", "盈港东路店招店牌整治", "Yinggang East Road shop signboards", CITY, R, ("roads/road-yinggang-2",),
         "xujing", ZHU_LIN, "2026-08-15", "2026-10-10", 240, "items"),
    Spec("RD-18", "会卓路人行道及侧石", "Huizhuo Road pavements and kerbs", ROAD, R, ("roads/road-huizhuo-1",),
         "construction", WANG_FANG, "2026-09-15", "2026-10-25", 2_560, "m", pace=Pace(2)),
    # ------------------------------------------------------------------ landscaping
    Spec("LS-01", "涞港路北侧四叶草绿地", "Clover-shaped green north of Laigang Road", GREEN, L,
         ("landscaping/ls-clover-green",), "city_greening", LIU_YANG, "2026-07-20", "2026-09-30", 16_500, "m²",
         curve="s_curve"),
    Spec("LS-02", "核心区花坛", "Core-area flower beds", GREEN, L,
         tuple(f"landscaping/ls-flower-bed-{s}" for s in ("north-gate", "metro-line2-exit", "west-gate",
                                                        "south-gate")),
         "qp_greening", HUANG_LI, "2026-10-10", "2026-10-28", 140_000, "pots", curve="s_curve", pace=Pace(1)),
    Spec("LS-03", "诸光路立体绿墙", "Zhuguang Road vertical green walls", GREEN, L, _walls(), "qp_greening",
         HE_JING, "2026-08-01", "2026-10-15", 930, "m", pace=Pace(6, 1.03),
         notes={30: "Planting modules re-ordered after heat damage 高温损苗补货"}),
    Spec("LS-04", "场馆草坪更新", "Venue lawns renewal", GREEN, L,
         ("landscaping/ls-lawn-east", "landscaping/ls-lawn-south-west", "landscaping/ls-lawn-south-east"),
         "halls", ZHOU_MIN, "2026-09-01", "2026-10-10", 71_100, "m²"),
    Spec("LS-05", "崧泽大道、涞港路行道树", "Street trees, Songze Avenue and Laigang Road", GREEN, L,
         ("landscaping/ls-trees-songze", "landscaping/ls-trees-laigang"), "city_greening", LIN_FENG,
         "2026-07-20", "2026-09-10", 92, "items", pace=Pace(0, 1.2)),
    Spec("LS-06", "崧泽大道中央分隔带绿化", "Songze Avenue median planting", GREEN, L, ("roads/road-songze-2",),
         "city_greening", LIN_FENG, "2026-08-20", "2026-10-15", 8_800, "m²", pace=Pace(-1)),
    Spec("LS-07", "诸光路绿化带修剪", "Zhuguang Road green belt trimming", GREEN, L, ("roads/road-zhuguang-2",),
         "qp_greening", HE_JING, "2026-09-20", "2026-10-20", 1_000, "m"),
    Spec("LS-08", "四叶草绿地景观照明", "Clover green landscape lighting", LIGHT, L,
         ("landscaping/ls-clover-green",), "city_greening", LIU_YANG, "2026-09-10", "2026-10-25", 180, "lamps",
         pace=Pace(5)),
    Spec("LS-09", "草坪喷灌系统", "Lawn sprinkler systems", GREEN, L,
         ("landscaping/ls-lawn-east", "landscaping/ls-lawn-south-west", "landscaping/ls-lawn-south-east"),
         "halls", MA_JUN, "2026-08-10", "2026-09-20", 3_200, "m"),
    Spec("LS-10", "地铁2号线出口口袋公园", "Metro Line 2 exit pocket garden", GREEN, L,
         ("landscaping/ls-flower-bed-metro-line2-exit",), "qp_greening", HUANG_LI, "2026-08-25", "2026-10-05",
         1_800, "m²", pace=Pace(1)),
    Spec("LS-11", "西门绿篱", "West gate hedges", GREEN, L, ("landscaping/ls-flower-bed-west-gate",),
         "qp_greening", HE_JING, "2026-09-05", "2026-10-10", 640, "m"),
    Spec("LS-12", "绿墙滴灌", "Green-wall drip irrigation", GREEN, L, _walls(), "qp_greening", HE_JING,
         "2026-08-15", "2026-10-05", 930, "m", pace=Pace(-2)),
    Spec("LS-13", "盈港东路围墙绿化", "Yinggang East Road fence greening", CITY, L, ("roads/road-yinggang-2",),
         "xujing", ZHU_LIN, "2026-08-20", "2026-10-20", 2_100, "m", pace=Pace(12, 1.2)),
    Spec("LS-14", "崧泽大道行道树灯饰", "Tree lights, Songze Avenue", LIGHT, L, ("landscaping/ls-trees-songze",),
         "city_greening", LIN_FENG, "2026-10-01", "2026-10-28", 920, "lamps"),
    Spec("LS-15", "四叶草绿地园路", "Clover green footpaths", GREEN, L, ("landscaping/ls-clover-green",),
         "city_greening", LIU_YANG, "2026-08-01", "2026-09-25", 2_300, "m²", pace=Pace(1)),
    Spec("LS-16", "涞港路绿化带提升", "Laigang Road green belt upgrade", GREEN, L,
         ("roads/road-laigang-2", "landscaping/ls-trees-laigang"), "xujing", WU_TAO, "2026-09-01", "2026-10-20",
         12_400, "m²", pace=Pace(-1)),
)

ADDED_LATER = (
    Spec("SP-11", "入口广场LED大屏", "Entrance square LED screens", REG, P, ("south_plaza/sp-entrance-square",),
         "plaza", MA_JUN, "2026-08-25", "2026-10-25", 4, "items", pace=Pace(1)),
)
# fmt: on

RAMPS = ("roads/road-ramp-songze-laigang-ne", "roads/road-ramp-songze-laigang-se")


# ============================================================================ the season
@dataclass
class Commit:
    slug: str
    time: str  # RFC 3339, Shanghai time
    author: str
    message: str
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (op, properties)


def record(spec: Spec) -> dict[str, Any]:
    """A project's register record (without progress)."""
    d: dict[str, Any] = {
        "code": spec.code,
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "category": spec.category,
        "area": spec.area,
        "features": list(spec.features),
        "responsible_unit": UNIT_OF_LIAISON[spec.liaison],
        "responsible_person": spec.person,
        "planned_start": spec.start,
        "planned_finish": spec.finish,
        "quantity": float(spec.quantity),
        "quantity_unit": spec.unit,
        "curve": spec.curve,
    }
    if spec.weight is not None:
        d["weight"] = spec.weight
    return d


def simulated_percent(spec: Spec, t: int) -> int:
    """The percent the liaison reports at T-``t``: the explicit series, or the plan run at the project's pace."""
    if spec.series is not None:
        return spec.series.get(t, 0)
    on = OPENING - timedelta(days=t)
    start, finish = date.fromisoformat(spec.start), date.fromisoformat(spec.finish)
    x = ((on - start).days * spec.pace.speed - spec.pace.delay) / (finish - start).days
    pct = 100.0 * curve_value(spec.curve, x)
    return 100 if pct >= 99.5 else int(round(pct))


def checkpoint_day(t: int) -> date:
    return OPENING - timedelta(days=t)


def season() -> list[Commit]:
    """Every commit of the register's history, oldest first."""
    commits: list[Commit] = []
    state: dict[str, dict[str, Any]] = {}

    def register(c: Commit, spec: Spec) -> None:
        state[spec.code] = record(spec)
        c.records.append(("add", dict(state[spec.code])))

    def amend(c: Commit, code: str, **changes: Any) -> None:
        state[code].update(changes)
        c.records.append(("modify", dict(state[code])))

    c = Commit(
        "register",
        "2026-07-20T10:00:00+08:00",
        OFFICE,
        f"Hardware project register for CIIE 2026: {len(SPECS)} projects over the south plaza, the halls, the roads "
        "and the landscaping, each with its responsible unit and person, planned dates (back-scheduled from "
        "opening day on 5 November, checkpoints every 10 days) and the venue features it covers.",
    )
    for spec in SPECS:
        register(c, spec)
    commits.append(c)
    pending = [
        (
            "2026-08-12T11:00:00+08:00",
            "rd-05-ramps",
            "RD-05 now covers the two Songze Avenue × Laigang Road ramps, added to the road layer this morning.",
            lambda c: amend(c, "RD-05", features=[*state["RD-05"]["features"], *RAMPS]),
        ),
        (
            "2026-08-20T10:00:00+08:00",
            "add-sp-11",
            "Add SP-11, the entrance square LED screens, as agreed at the coordination meeting of 19 August.",
            lambda c: register(c, ADDED_LATER[0]),
        ),
        (
            "2026-09-05T15:00:00+08:00",
            "rd-03-deadline",
            "RD-03 planned finish moved from 2026-10-10 to 2026-10-25: State Grid's outage window for Huizhuo Road "
            "was granted only from 1 September.",
            lambda c: amend(c, "RD-03", planned_finish="2026-10-25"),
        ),
        (
            "2026-09-19T09:00:00+08:00",
            "sp-02-design",
            "SP-02 quantity to the approved 2026 flower display design: 590,000 pots (was the 2025 figure).",
            lambda c: amend(c, "SP-02", quantity=590_000.0),
        ),
    ]
    specs = {s.code: s for s in (*SPECS, *ADDED_LATER)}
    for t in range(FIRST_REPORT, LAST_REPORT - 1, -10):
        day = checkpoint_day(t)
        while pending and date.fromisoformat(pending[0][0][:10]) <= day:
            when, slug, message, apply = pending.pop(0)
            c = Commit(slug, when, OFFICE, message)
            apply(c)
            commits.append(c)
        for k, liaison in enumerate(LIAISONS):
            author = LIAISONS[liaison]
            when = f"{day.isoformat()}T{16 + k // 6:02d}:{(k % 6) * 10:02d}:00+08:00"
            c = Commit(f"t-{t}-{SLUG[liaison]}", when, author, "")
            parts = []
            for code in sorted(state):
                spec = specs[code]
                props = state[code]
                if spec.liaison != liaison or props.get("percent_complete") == 100.0:
                    continue
                if date.fromisoformat(props["planned_start"]) > day:
                    continue
                pct = simulated_percent(spec, t)
                report = ProgressReport(code, float(pct), day, spec.notes.get(t), spec.reasons.get(t))
                problems = check_report(Project.from_properties(props), report, day)
                if problems:
                    raise ValueError(f"{code} at T-{t}: {'; '.join(why.text for why in problems)}")
                state[code] = report_properties(Project.from_properties(props), report, author)
                c.records.append(("modify", dict(state[code])))
                parts.append(f"{code} {pct}%" + (" (done)" if pct == 100 else ""))
            if not parts:
                continue
            unit = UNIT_OF_LIAISON[liaison].split(" (")[-1].rstrip(")")
            c.message = f"Progress at T-{t} ({day.isoformat()}), {unit}: " + ", ".join(parts) + "."
            commits.append(c)
    return commits


# ============================================================================ writing
def change_file_bytes(c: Commit) -> bytes:
    """A change file with one record per line, so a regenerated file diffs line by line."""
    meta = {"author": c.author, "message": c.message, "time": c.time}
    lines = [
        orjson.dumps(
            {"type": "Feature", "id": props["code"], "twin:layer": "projects", "twin:op": op, "geometry": None,
             "properties": props}
        )
        for op, props in c.records
    ]  # fmt: skip
    return (
        b'{"type": "FeatureCollection",\n"twin:commit": '
        + orjson.dumps(meta)
        + b',\n"features": [\n'
        + b",\n".join(lines)
        + b"\n]}\n"
    )


def write_season(outdir: str | Path = OUT_DIR, commits: Callable[[], list[Commit]] = season) -> list[Path]:
    """(Re)write the register's change files into ``outdir``, removing stale ones; return the paths in order."""
    return write_numbered(outdir, [(c.slug, change_file_bytes(c)) for c in commits()])


def main() -> None:
    for p in write_season():
        print(p)


if __name__ == "__main__":
    main()
