"""Hardware-project completion over the twin: the project register, back-scheduled checkpoints,
progress reports, status and forecasts on any date or version, and roll-ups.

No web code: the API (api/completion.py), the CLI (cli/completion.py) and the maps all ask
``Completion(twin).at(date, version)`` the same questions.
"""

from completion.qgis import present_venue, shows_commit
from completion.register import LAYER, RULE, Project, Register, Report
from completion.reports import ProgressReport, check_report, project_rule, report_progress, save_projects
from completion.rollup import GROUPINGS, Group, area_shares, overall_weights
from completion.schedule import Checkpoint, checkpoints, planned_percent
from completion.settings import CompletionSettings
from completion.snapshot import Completion, Snapshot, parse_day
from completion.status import (
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUSES,
    Forecast,
    ProjectStatus,
    evaluate,
    evaluate_all,
)
from twin.core import register_presenter, register_rule

# The register's rules hold on every write path, not only through report_progress/save_projects.
# A record's `features` are references ("layer/feature_id"): a reader who may not see a layer
# reads them without the ones into it (twin.access).
register_rule(RULE, project_rule, references=("features",))
# The twin file carries its QGIS styles and project, refreshed after each commit (GeoPackage only).
register_presenter(present_venue, shows_commit)

__all__ = [
    "GROUPINGS",
    "LAYER",
    "STATUSES",
    "STATUS_COLOURS",
    "STATUS_LABELS",
    "Checkpoint",
    "Completion",
    "CompletionSettings",
    "Forecast",
    "Group",
    "ProgressReport",
    "Project",
    "ProjectStatus",
    "Register",
    "Report",
    "Snapshot",
    "area_shares",
    "check_report",
    "checkpoints",
    "evaluate",
    "evaluate_all",
    "overall_weights",
    "parse_day",
    "planned_percent",
    "report_progress",
    "save_projects",
]
