"""The versioned venue twin: layers of features, committed atomically, readable at any version."""

from twin.core import HEAD, Ref, Twin, TwinLike, feature_from_geojson
from twin.errors import BadInput, Conflict, Corrupt, NotFound, Problem, TwinError, ValidationFailed
from twin.model import Change, CommitInfo, DiffEntry, Feature, FieldSpec, HistoryEntry, LayerSchema
from twin.stores.base import BBox, ExportRow, Page
from twin.surveys import SurveyInfo

__all__ = [
    "HEAD",
    "BBox",
    "BadInput",
    "Change",
    "CommitInfo",
    "Conflict",
    "Corrupt",
    "DiffEntry",
    "ExportRow",
    "Feature",
    "FieldSpec",
    "HistoryEntry",
    "LayerSchema",
    "NotFound",
    "Page",
    "Problem",
    "Ref",
    "Twin",
    "SurveyInfo",
    "TwinLike",
    "TwinError",
    "ValidationFailed",
    "feature_from_geojson",
]
