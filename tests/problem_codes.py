"""An input for every problem code validation gives (twin.validation.PROBLEM_CODES): the twin's
tests check each code is given with its arguments, the layer-check page's tests that each is worded
in Chinese and English from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from store_contract import AOI, X0, Y0, square

from twin import Change, Feature, Problem
from twin.model import SCHEMA_ID, FieldSpec, LayerSchema
from twin.validation import validate_changes

KIOSKS = LayerSchema(
    name="kiosks",
    title_zh="售货亭",
    title_en="Kiosks",
    geometry_types=("Polygon",),
    code_field="code",
    fields=(
        FieldSpec("code", "string", required=True, title_zh="编号", title_en="Code"),
        FieldSpec(
            "kind",
            "string",
            required=True,
            allowed=("food", "drink"),
            title_zh="类型",
            title_en="Kind",
            labels=(("food", "餐饮", "Food"), ("drink", "饮品", "Drinks")),
        ),
        FieldSpec("seats", "integer", title_zh="座位", title_en="Seats"),
        FieldSpec("area", "number", title_zh="面积", title_en="Area"),
        FieldSpec("name", "string", title_zh="名称", title_en="Name"),
        FieldSpec("odd", "blob"),  # a type no schema may have: only a broken schema gives unknown_type
    ),
)
REGISTER = LayerSchema(
    name="register", title_zh="台账", title_en="Register", geometry_types=(), fields=(FieldSpec("code", "string"),)
)
SCHEMAS = {s.name: s for s in (KIOSKS, REGISTER)}
GOOD = {"code": "K1", "kind": "food"}
BOWTIE = Polygon([(X0, Y0), (X0 + 0.001, Y0 + 0.001), (X0 + 0.001, Y0), (X0, Y0 + 0.001)])
NOT_FINITE = Polygon([(X0, Y0), (float("inf"), Y0), (X0, Y0 + 0.001)])
FAR = Polygon([(130, 40), (130.001, 40), (130.001, 40.001)])


def _kiosk(fid: Any, geom: BaseGeometry | None = None, op: str = "upsert", **props: Any) -> Change:
    return Change("kiosks", op, fid, Feature(fid, square(0, 0) if geom is None else geom, {**GOOD, **props}))


# code: the changes of one commit that give (at least) that problem
INPUTS: dict[str, Callable[[], list[Change]]] = {
    "unknown_layer": lambda: [Change("nowhere", "upsert", "k", Feature("k", square(0, 0), {}))],
    "unknown_op": lambda: [_kiosk("k", op="merge")],
    "reserved_id": lambda: [_kiosk(SCHEMA_ID)],
    "changed_twice": lambda: [_kiosk("k"), _kiosk("k")],
    "delete_with_feature": lambda: [_kiosk("k", op="delete")],
    "no_feature": lambda: [Change("kiosks", "upsert", "k", None)],
    "id_mismatch": lambda: [Change("kiosks", "upsert", "k", Feature("j", square(0, 0), dict(GOOD)))],
    "id_not_text": lambda: [_kiosk(5)],
    "id_too_long": lambda: [_kiosk("k" * 300)],
    "id_missing": lambda: [_kiosk("  ")],
    "id_white_space": lambda: [_kiosk(" k")],
    "id_not_unicode": lambda: [_kiosk("k\ud800")],
    "id_control_character": lambda: [_kiosk("k\x009")],
    "id_not_nfc": lambda: [_kiosk("cafe\u0301")],
    "unknown_property": lambda: [_kiosk("k", colour="red")],
    "text_not_unicode": lambda: [_kiosk("k", name="a\ud800")],
    "text_holds_nul": lambda: [_kiosk("k", name="a\x00b")],
    "text_control_character": lambda: [_kiosk("k", name="\x1b[2Jnote")],
    "text_too_long": lambda: [_kiosk("k", name="x" * 10_001)],
    "required_missing": lambda: [Change("kiosks", "upsert", "k", Feature("k", square(0, 0), {"kind": "food"}))],
    "wrong_type": lambda: [_kiosk("k", seats="many"), _kiosk("j", seats=True), _kiosk("i", name={"a": 1})],
    "number_too_large": lambda: [_kiosk("k", area=10**400)],
    "integer_out_of_range": lambda: [_kiosk("k", seats=2**70)],
    "integer_inexact": lambda: [_kiosk("k", seats=-9223372036854775809.0)],  # JSON's -2**63-1, read as -2.0**63
    "unknown_type": lambda: [_kiosk("k", odd="x")],
    "value_not_allowed": lambda: [_kiosk("k", kind="soup")],
    "unexpected_geometry": lambda: [Change("register", "upsert", "r", Feature("r", square(0, 0), {"code": "R"}))],
    "no_geometry": lambda: [Change("kiosks", "upsert", "k", Feature("k", None, dict(GOOD)))],
    "geometry_type": lambda: [_kiosk("k", Point(X0, Y0))],
    "geometry_empty": lambda: [_kiosk("k", Polygon())],
    "geometry_not_finite": lambda: [_kiosk("k", NOT_FINITE)],
    "geometry_invalid": lambda: [_kiosk("k", BOWTIE)],
    "outside_area": lambda: [_kiosk("k", FAR)],
}


def problems_for(code: str) -> list[Problem]:
    """Every problem validation finds in the input for `code`."""
    return validate_changes(INPUTS[code](), SCHEMAS, AOI)
