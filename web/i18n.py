"""Every label the maps and pages show, in Chinese and English.

`label(lang, key, **values)` formats one; `LANGS` are the languages offered. Layer and field
titles come from the layer schemas themselves (`title_zh` / `title_en`), and so do the names of
their values (`FieldSpec.labels`: flower_bed is "花坛" / "Flower bed"), so a layer added to the
twin is labelled without touching this file.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from completion.landing import NOTE_LABELS
from completion.percent import keep_ends, percent_round  # noqa: F401  (the pages' names for them)
from completion.status import STATUS_COLOURS as _COMPLETION_COLOURS
from completion.status import STATUS_LABELS as _COMPLETION_LABELS
from twin.access import MESSAGE_WITHHELD
from twin.model import FieldSpec, LayerSchema

if TYPE_CHECKING:
    from completion.evidence import Evidence

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

# The legend's order, as leaders read it; labels and colours are the completion module's, so a map
# and the completion API always name and colour a status alike.
LEGEND_ORDER = ("done", "on_track", "at_risk", "behind", "not_started")
STATUS_COLOURS: dict[str, str] = dict(_COMPLETION_COLOURS)
NO_PROJECT_COLOUR = "#d1d5db"

_LABELS: dict[str, dict[str, str]] = {
    # product
    "product": {"zh": "国家会展中心（上海）场馆数字孪生", "en": "NECC (Shanghai) venue digital twin"},
    "product_short": {"zh": "场馆数字孪生", "en": "Venue twin"},
    "venue": {"zh": "国家会展中心（上海）", "en": "National Exhibition and Convention Center (Shanghai)"},
    "expo": {"zh": "中国国际进口博览会", "en": "China International Import Expo"},
    "approximate": {
        "zh": "位置为示意（约±150米），待导入测绘图层后更新。",
        "en": "Positions are approximate (about ±150 m) until a surveyed layer is imported.",
    },
    "language": {"zh": "语言", "en": "Language"},
    "level_0m": {"zh": "0米层（地面层）", "en": "Ground level (0 m)"},
    "level_16m": {"zh": "16米层（上层）", "en": "Upper level (16 m)"},
    "home": {"zh": "首页", "en": "Home"},
    "other_lang": {"zh": "English", "en": "中文"},
    # landing
    "landing_intro": {
        "zh": "进博会场馆保障工程的版本化数字孪生：各图层的现状、任一历史版本与变化，以及硬件工程完成情况。",
        "en": "The versioned digital twin of the CIIE venue: its layers now, at any earlier version and what "
        "changed, and the completion of the hardware preparation projects.",
    },
    "maps_for_leaders": {"zh": "领导一图看", "en": "For leaders"},
    "maps_for_teams": {"zh": "城市容貌与业务团队", "en": "For city-appearance and venue teams"},
    "for_developers": {"zh": "数据接口", "en": "Data and API"},
    "completion_map": {"zh": "工程完成情况图", "en": "Completion map"},
    "completion_map_desc": {
        "zh": "按状态着色的全部工程要素、按区域的加权完成率、计划与实际S曲线、滞后工程清单。",
        "en": "Every project's features coloured by status, weighted completion by area, the planned-against-"
        "actual S-curve and the late projects.",
    },
    "brief_card": {"zh": "打印简报", "en": "Briefing to print"},
    "brief_card_desc": {
        "zh": "一页A3（或两页A4）：工程完成情况图、关键指标、S曲线、滞后工程与逾期未报。PDF用于打印，PNG便于发送。",
        "en": "One A3 page (or two A4 pages): the completion map, key figures, S-curve, late projects and "
        "overdue reports. PDF to print, PNG to send.",
    },
    "brief_a4": {"zh": "A4 PDF", "en": "A4 PDF"},
    "brief_a3": {"zh": "A3 PDF", "en": "A3 PDF"},
    "brief_link": {"zh": "打印简报（PDF）", "en": "Briefing to print (PDF)"},
    # the home page's card of the units page (/completion/units?f=html): who answers for what is late
    # (worded as the page's own title: units_title_unit)
    "units_card": {"zh": "分责任单位进度与填报", "en": "Accountability by responsible unit"},
    "units_card_desc": {
        "zh": "各责任单位（或责任人）的滞后工程、逾期未报与计划/实际完成率，可打印，可下载Excel。",
        "en": "Each responsible unit's (or person's) late projects, overdue reports and planned against "
        "actual completion; to print, or to download for Excel.",
    },
    "timeline_map": {"zh": "倒排节点回放", "en": "Checkpoint timeline"},
    "timeline_map_desc": {
        "zh": "按每10天一个节点回放完成情况，看场馆逐步“填满”。",
        "en": "Step through the 10-day checkpoints and watch the venue fill in.",
    },
    "changes_map": {"zh": "变化对比图", "en": "Change map"},
    "changes_map_desc": {
        "zh": "两个版本或节点之间新增、修改（虚线为原形状）和删除的要素。",
        "en": "What was added, modified (old shape dashed) and deleted between two versions or checkpoints.",
    },
    "evidence_card": {"zh": "航测影像核查", "en": "Evidence from imagery"},
    "evidence_card_desc": {
        "zh": "航测影像显示的完成情况与各单位填报对照，先列出影像与填报不符的工程。",
        "en": "What the survey imagery shows beside what the units reported; the projects where the two "
        "disagree come first.",
    },
    "layer_check_map": {"zh": "图层核查图", "en": "Layer check map"},
    "layer_check_desc": {
        "zh": "逐图层查看属性，标出未通过校验或缺少属性的要素及原因。",
        "en": "One layer with its attributes; features that fail validation or miss attributes are marked "
        "with the reason.",
    },
    "api_collections": {"zh": "图层（OGC API Features）", "en": "Layers (OGC API Features)"},
    "api_doc": {"zh": "接口说明", "en": "API description"},
    "api_versions": {"zh": "版本历史", "en": "Versions (commits)"},
    "api_landing_json": {"zh": "接口首页（JSON）", "en": "API landing document (JSON)"},
    "api_conformance": {"zh": "OGC API 符合性声明", "en": "OGC API conformance"},
    "head_version": {"zh": "当前版本", "en": "Current version"},
    "commits_n": {"zh": "共 {n} 次提交", "en": "{n} commits"},
    "features_n": {"zh": "{n} 个要素", "en": "{n} features"},
    "no_commits": {"zh": "孪生中还没有提交。", "en": "The twin has no commits yet."},
    # completion
    "completion_title": {"zh": "进博会场馆保障工程完成情况", "en": "CIIE venue preparation: completion"},
    "as_of": {"zh": "截至 {date}", "en": "As of {date}"},
    "date": {"zh": "日期", "en": "Date"},
    "show": {"zh": "查看", "en": "Show"},
    "days_left": {"zh": "距开幕还有", "en": "Days to opening day"},
    "days_unit": {"zh": "天", "en": "days"},
    # the completion map's first figure after opening day: the days since, as the home page counts them
    "days_since_label": {"zh": "已开幕", "en": "Days since opening day"},
    "opening_day": {"zh": "开幕日 {date}", "en": "Opening day {date}"},
    "opening_passed": {"zh": "已开幕（{date}）", "en": "Opened on {date}"},
    "opening_today": {"zh": "今天开幕", "en": "Opening today"},
    "overall": {"zh": "总体加权完成率", "en": "Overall weighted completion"},
    "actual": {"zh": "实际", "en": "Actual"},
    "planned": {"zh": "计划", "en": "Planned"},
    "by_area": {"zh": "分区域加权完成率", "en": "Weighted completion by area"},
    "area": {"zh": "区域", "en": "Area"},
    "scurve": {"zh": "S曲线：计划与实际累计完成", "en": "S-curve: cumulative planned and actual"},
    "legend": {"zh": "图例（工程数）", "en": "Legend (projects)"},
    "legend_plain": {"zh": "图例", "en": "Legend"},
    "late_projects": {"zh": "滞后工程", "en": "Late projects"},
    "late_none": {"zh": "没有滞后工程。", "en": "No project is late."},
    "late_hint": {"zh": "点击定位到工程要素", "en": "Click to zoom to a project's features"},
    "projects_n": {"zh": "{n} 项工程", "en": "{n} projects"},
    "no_projects": {
        "zh": "孪生中还没有工程台账（projects 图层），只显示场馆图层。",
        "en": "The twin has no project register (the projects layer) yet: only the venue layers are shown.",
    },
    # a date before the register's first project (the season not begun): said, not a green 0 %
    "no_projects_on": {"zh": "截至 {date}，尚未登记任何工程", "en": "No project registered as of {date}"},
    "no_projects_on_note": {
        "zh": "工程台账中还没有这一天已登记的工程：没有完成率、滞后工程或逾期未报可报。",
        "en": "The project register lists no project on this date: no completion, late project or overdue report to show.",
    },
    "status": {"zh": "状态", "en": "Status"},
    "status_none": {"zh": "不属于工程", "en": "Not in a project"},
    "project": {"zh": "工程", "en": "Project"},
    "project_open": {"zh": "打开工程页", "en": "Open the project's page"},
    "unit": {"zh": "责任单位", "en": "Responsible unit"},
    "person": {"zh": "责任人", "en": "Responsible person"},
    "percent_vs_planned": {"zh": "完成 {actual} / 计划 {planned}", "en": "{actual} done / {planned} planned"},
    "progress": {"zh": "进度", "en": "Progress"},
    "forecast": {"zh": "预计完成", "en": "Forecast finish"},
    "planned_finish": {"zh": "计划完成", "en": "Planned finish"},
    # days late is the schedule variance (how far behind its plan a project is today), not how late
    # its forecast finish is: worded as such, and apart from the forecast, so the two never read as one
    "days_late": {"zh": "落后计划 {n} 天", "en": "{n} days behind plan"},
    "behind_plan": {"zh": "落后计划", "en": "Behind plan"},
    "n_days": {"zh": "{n} 天", "en": "{n} days"},
    "after_opening": {"zh": "晚于开幕日", "en": "after opening day"},
    "after_opening_by": {"zh": "晚于开幕日 {n} 天", "en": "{n} days after opening day"},
    "imagery": {"zh": "影像核查", "en": "Imagery"},
    "imagery_badge": {"zh": "影像", "en": "imagery"},  # the mark of an imagery flag (a CSS badge: no emoji font needed)
    # projects whose report runs ahead of their imagery and that are not late: a list of their own
    "imagery_disagrees": {"zh": "影像与填报不符", "en": "Imagery disagrees with the report"},
    # a link to the evidence page (web.evidence_page): the imagery's heading, a project's imagery flag
    "evidence_open": {"zh": "查看航测影像核查详情", "en": "See the evidence from the survey imagery"},
    "project_evidence_link": {"zh": "影像核查详情", "en": "Imagery evidence"},
    "imagery_disagrees_note": {
        "zh": "按填报并未滞后，但航测影像显示的完成程度明显低于填报，请核实。",
        "en": "Not late by their reports, but the survey imagery shows much less done than reported: check them.",
    },
    "done_reported": {"zh": "已完成，{date} 填报", "en": "Done, reported {date}"},
    "not_forecast": {"zh": "无法预测", "en": "no forecast"},
    "late_chance": {
        "zh": "赶不上开幕日的概率 {p}（80% 区间 {low} 至 {high}）",
        "en": "{p} chance of missing opening day (80% range {low} to {high})",
    },
    # how a forecast was made (completion.forecast.Basis, worded by web.panels.basis_words)
    "basis_pace": {
        "zh": "依据：{own}% 按其近 {days} 天的施工进度，{rest}% 按同类项目（{ref}）",
        "en": "Based {own}% on its own working pace over {days} days and {rest}% on similar projects ({ref})",
    },
    "basis_slow_start": {
        "zh": "依据：尚无连续施工期（开工晚或进展慢），按同类项目（{ref}）的进度",
        "en": "Based on the pace of similar projects ({ref}): no steady work yet (a late or slow start)",
    },
    "basis_no_progress": {
        "zh": "依据：尚无进展，按同类项目（{ref}）的进度",
        "en": "Based on the pace of similar projects ({ref}): no progress yet",
    },
    "basis_stopped": {
        "zh": "目前停工：按已见的 {n} 次停工时长估计复工时间。{then}",
        "en": "Stopped now: work resumes after a wait like the {n} stoppages seen. {then}",
    },
    "basis_stopped_few": {
        "zh": "依据：目前停工（已见停工太少，无法估计时长），{own}% 按其全部 {days} 天的历史进度，{rest}% 按同类项目（{ref}）",
        "en": "Based {own}% on its whole history's pace over {days} days and {rest}% on similar projects ({ref}): "
        "stopped now, too few stoppages seen to say how long one lasts",
    },
    # its forecast from its latest report went by unreported: carried forward (completion.forecast)
    "basis_passed": {
        "zh": "按最近一次填报预测的完成日 {date} 已过，仍未报完成：当时剩余的工程从本日起重新估算（剩余零至全部均有可能）。",
        "en": "Not reported done by {date}, the finish forecast from its latest report: the work then left "
        "is carried forward to this date (none to all of it still left).",
    },
    "basis_missed": {
        "zh": "开幕日 {date} 前未报告完成，已错过。",
        "en": "Not reported done by opening day {date}: missed it.",
    },
    "basis_class": {
        "zh": "{category}类其他 {nc} 项；{unit}其他 {nu} 项",
        "en": "{nc} other {category} {nc_projects}; {nu} other {nu_projects} of {unit}",
    },
    "basis_register": {"zh": "全部台账其他 {n} 项", "en": "the whole register, {n} other {projects}"},
    "basis_plan": {"zh": "可借鉴的项目太少，按计划本身进度", "en": "too few to learn from: the plan's own pace"},
    # a figure whose report is overdue (no report since the last checkpoint): stale, not the same as late
    "stale": {"zh": "数据过期：上次填报 {date}", "en": "stale: last reported {date}"},
    "stale_never": {"zh": "数据过期：从未填报", "en": "stale: never reported"},
    # a table wider than a phone's screen scrolls sideways in its box
    "table_scrolls": {"zh": "表格可左右滑动，查看更多列 →", "en": "The table scrolls sideways for more columns →"},
    "reports_missing": {"zh": "逾期未报", "en": "Reports missing"},
    "reports_missing_note": {
        "zh": "上个节点以来未填报",
        "en": "no report since the last checkpoint",
    },
    # the date a view lands on when none is asked for (completion.landing, which words its note)
    **NOTE_LABELS,
    "newest_report": {"zh": "最新填报 {date}，数据龄 {n} 天", "en": "Newest report {date}, {n} d old"},
    "no_report_yet": {"zh": "尚无填报", "en": "No report yet"},
    "data_age": {"zh": "数据龄", "en": "Data age"},
    "age_days": {"zh": "{n}天", "en": "{n} d"},
    "last_report_age": {"zh": "最近填报 {date}（数据龄 {n} 天）", "en": "last report {date} ({n} d old)"},
    "stale_badge": {"zh": "数据过期", "en": "stale"},
    "stale_in_late": {
        "zh": "其中 {n} 项数据过期：上个节点以来未填报，未必真的滞后。",
        "en": "{n} of them rest on stale figures: no report since the last checkpoint, so not necessarily late.",
    },
    # on opening day or after it a project not reported done has missed it, stale or not: the note
    # says its last report is old, and no longer that it may not be late
    "stale_in_late_after_opening": {
        "zh": "其中 {n} 项上个节点以来未填报，最近填报数据陈旧；未在开幕日前报完工，仍属滞后。",
        "en": "{n} of them have not reported since the last checkpoint: their last reports are old. "
        "Not reported done by opening day, they are late all the same.",
    },
    "stale_of_behind": {"zh": "其中数据过期 {n}", "en": "{n} of them stale"},
    "forecast_passed": {
        "zh": "{date}（原预测 {was} 已过，未报完成）",
        "en": "{date} (forecast {was} passed, not reported done)",
    },
    # the per-unit view (completion.accountability.unit_table, as /completion/units)
    "by_unit": {"zh": "分责任单位", "en": "By responsible unit"},
    "units_summary": {
        "zh": "{late} 个单位有滞后工程，{overdue} 个单位逾期未报",
        "en": "{late} with late projects, {overdue} with reports overdue",
    },
    "unit_late": {"zh": "滞后 {n}", "en": "{n} late"},
    "unit_overdue": {"zh": "逾期未报 {n}/{due}", "en": "{n}/{due} reports overdue"},
    "unit_hint": {"zh": "点击定位到该单位的全部工程", "en": "Click to zoom to the unit's projects"},
    # the by-unit heading's link to the units page, and its title (web/templates/panel_completion.html)
    "units_table_link": {"zh": "责任单位表 ›", "en": "Full table ›"},
    "units_open": {
        "zh": "打开责任单位表：各单位的滞后工程与逾期未报",
        "en": "Open the table of responsible units: each unit's late projects and overdue reports",
    },
    # one project's page (/projects/{code} as HTML, web/templates/project.html)
    "project_title": {"zh": "工程 {code} {name}", "en": "Project {code} {name}"},
    "project_category": {"zh": "类别", "en": "Category"},
    "project_quantity": {"zh": "工程量", "en": "Quantity"},
    "project_plan": {"zh": "计划工期", "en": "Planned"},
    "project_plan_dates": {"zh": "{start} 至 {finish}", "en": "{start} to {finish}"},
    "project_report": {"zh": "填报", "en": "Reporting"},
    "project_report_overdue": {
        "zh": "逾期未报（上个节点以来未填报）",
        "en": "overdue (none since the last checkpoint)",
    },
    "project_report_on_time": {"zh": "未逾期", "en": "not overdue"},
    "project_checkpoints": {"zh": "各节点计划完成", "en": "Planned at each checkpoint"},
    "project_reports": {"zh": "进度填报", "en": "Progress reports"},
    "project_percent": {"zh": "完成", "en": "Done"},
    "project_done_qty": {"zh": "完成量", "en": "Quantity"},
    "project_reporter": {"zh": "填报人", "en": "Reporter"},
    "project_note": {"zh": "说明", "en": "Note"},
    "project_units_link": {"zh": "责任单位表", "en": "Responsible units"},
    "project_data": {"zh": "数据", "en": "Data"},
    "project_curve": {"zh": "计划与填报进度", "en": "Plan against reported progress"},
    "project_missing": {"zh": "未找到工程 {code}", "en": "No project {code}"},
    "project_not_yet": {"zh": "工程 {code} 尚未登记", "en": "Project {code} not yet registered"},
    "project_not_yet_note": {
        "zh": "{date} 时该工程尚未登记，{registered} 登记。",
        "en": "On {date} the project was not yet in the register: it was registered on {registered}.",
    },
    "project_missing_note": {
        "zh": "{date} 的工程登记中没有这个编号。",
        "en": "The project register of {date} has no such code.",
    },
    # an error answered as a page (web/error_page.py, web/templates/page_error.html)
    "error_400": {"zh": "请求有误", "en": "Bad request"},
    "error_401": {"zh": "需要登录令牌", "en": "A sign-in token is needed"},
    "error_403": {"zh": "无权查看", "en": "Not allowed"},
    "error_404": {"zh": "未找到", "en": "Not found"},
    "error_other": {"zh": "请求未能完成（{status}）", "en": "The request could not be answered ({status})"},
    "error_parameter": {
        "zh": "链接中的参数 {parameter} 有误，页面无法打开：",
        "en": "The parameter {parameter} in the address is not right, so the page cannot open:",
    },
    "error_note": {"zh": "页面无法打开：", "en": "The page cannot open:"},
    "error_home": {"zh": "返回首页", "en": "Home"},
    "error_without": {"zh": "不带参数 {parameter} 打开此页", "en": "This page without {parameter}"},
    # the page without its query (the error names no parameter): not "open this page again" (重新打开此页), the same error
    "error_page_plain": {"zh": "不带参数打开此页", "en": "This page without its parameters"},
    # the per-unit page (/completion/units as HTML, web/templates/completion_units.html)
    "units_title_unit": {"zh": "分责任单位进度与填报（{date}）", "en": "Accountability by responsible unit on {date}"},
    "units_title_person": {
        "zh": "分责任人进度与填报（{date}）",
        "en": "Accountability by responsible person on {date}",
    },
    "units_days_left": {"zh": "距开幕还有 {n} 天（开幕日 {date}）", "en": "{n} days to opening day ({date})"},
    "units_version": {"zh": "孪生版本 {version}。", "en": "twin version {version}."},
    "units_empty_twin": {"zh": "（空孪生）。", "en": "(empty twin)."},
    "units_overdue_note": {
        "zh": "上个节点以来没有填报即为逾期未报，其数据已过期（过期不等于滞后）。",
        "en": "A report is overdue when none came in since the last checkpoint; its figures are stale "
        "(not the same as late).",
    },
    "units_projects": {"zh": "工程数", "en": "Projects"},
    "units_reports_overdue": {"zh": "逾期未报 / 应报", "en": "Reports overdue / due"},
    "units_late": {"zh": "滞后", "en": "Late"},
    "units_planned": {"zh": "计划 %", "en": "Planned %"},
    "units_actual": {"zh": "实际 %", "en": "Actual %"},
    "units_variance": {"zh": "偏差（百分点）", "en": "± points"},
    "units_overdue_projects": {"zh": "逾期未报工程", "en": "Overdue projects"},
    "units_late_projects": {"zh": "滞后工程", "en": "Late projects"},
    # the units page's column of each unit's projects the imagery flags, each linked to its evidence
    "units_flagged_projects": {"zh": "影像与填报不符工程", "en": "Flagged by imagery"},
    # a person row of a unit's projects that name no responsible person (completion.accountability)
    "units_nobody_named": {"zh": "（未填责任人）", "en": "(nobody named)"},
    # the accountability lists' Excel downloads (web/excel.py): the units page's "overdue / due" as two
    # columns of numbers, the reports missing's checkpoints, each list's title and sheet's name
    "excel_reports_overdue": {"zh": "逾期未报", "en": "Reports overdue"},
    "excel_reports_due": {"zh": "应报", "en": "Reports due"},
    "excel_report_due": {"zh": "应报节点", "en": "Report due"},
    "excel_due_since": {"zh": "未报起始节点", "en": "Owed since"},
    "excel_stale": {"zh": "数据过期", "en": "Stale"},
    # a printed sheet's footer: Excel puts the page for {page} (&P) and the pages for {pages} (&N)
    "excel_pages": {"zh": "第 {page} 页，共 {pages} 页", "en": "Page {page} of {pages}"},
    "excel_title": {"zh": "{what}（{date}）", "en": "{what} on {date}"},
    "units_sheet_unit": {"zh": "分责任单位", "en": "By unit"},
    "units_sheet_person": {"zh": "分责任人", "en": "By person"},
    "layer_control_hint": {"zh": "图层", "en": "Layers"},
    "venue_boundary": {"zh": "场馆红线", "en": "Venue boundary"},
    "open_timeline": {"zh": "节点回放", "en": "Timeline"},
    "open_changes": {"zh": "变化对比", "en": "Changes"},
    # timeline
    "timeline_title": {"zh": "倒排节点回放：场馆逐步“填满”", "en": "Checkpoint timeline: the venue fills in"},
    "checkpoint": {"zh": "节点", "en": "Checkpoint"},
    # a step before the twin's history (a season imported mid-way, or recorded today without its
    # original dates): when the history starts, not a bare "no data yet"
    "history_starts": {"zh": "孪生的历史从 {since} 开始", "en": "The twin's history starts on {since}"},
    "history_starts_note": {
        "zh": "{date} 在此之前，孪生中没有那一天的数据，这一步没有数字可显示。",
        "en": "{date} comes before it: the twin holds nothing of that day, so this step has no figures.",
    },
    # the timeline's step of the date a map opens on (today) where no checkpoint has data yet
    "timeline_today": {"zh": "今天 · {date}", "en": "Today · {date}"},
    "play": {"zh": "播放", "en": "Play"},
    "pause": {"zh": "暂停", "en": "Pause"},
    "prev": {"zh": "上一节点", "en": "Previous"},
    "next": {"zh": "下一节点", "en": "Next"},
    # changes
    "changes_title": {"zh": "变化对比", "en": "What changed"},
    "from": {"zh": "从", "en": "From"},
    "to": {"zh": "到", "en": "To"},
    "added": {"zh": "新增", "en": "Added"},
    "modified": {"zh": "修改", "en": "Modified"},
    "modified_old": {"zh": "修改前形状（虚线）", "en": "Shape before (dashed)"},
    "deleted": {"zh": "删除", "en": "Deleted"},
    "no_changes": {"zh": "两个版本之间没有变化。", "en": "Nothing changed between these versions."},
    "changed_fields": {"zh": "变化的属性", "en": "Changed attributes"},
    "geometry_changed": {"zh": "形状或位置已改变", "en": "Shape or position changed"},
    "commit": {"zh": "提交", "en": "Commit"},
    "context": {"zh": "场馆底图要素", "en": "Venue context"},
    # layer check
    "layer_check_title": {"zh": "图层核查：{layer}", "en": "Layer check: {layer}"},
    "version": {"zh": "版本", "en": "Version"},
    "check_ok": {"zh": "通过", "en": "Passes"},
    "check_missing": {"zh": "缺少属性", "en": "Missing attributes"},
    "check_invalid": {"zh": "未通过校验", "en": "Fails validation"},
    "problems": {"zh": "问题要素", "en": "Features with problems"},
    "problems_none": {
        "zh": "所有要素均通过校验且属性齐全。",
        "en": "Every feature passes validation and has its attributes.",
    },
    "missing_field": {"zh": "缺少“{field}”", "en": "{field} is missing"},
    "value_with_code": {"zh": "{label}（{code}）", "en": "{label} ({code})"},
    "list_separator": {"zh": "、", "en": ", "},
    # The layer check: each problem validation reports, by its code ("problem_<code>", the codes
    # and their arguments are twin.validation.PROBLEM_CODES), worded by web.checks.problem_text:
    # {field} is the field's title, {value} the value as written, {allowed} the allowed values (by
    # their labels, each code in brackets), {bounds} and {area} boxes in lon/lat.
    "problem_unknown_layer": {"zh": "图层“{layer}”不存在", "en": "unknown layer '{layer}'"},
    "problem_unknown_op": {"zh": "操作 {op} 不是 {allowed} 之一", "en": "op {op} is not one of {allowed}"},
    "problem_reserved_id": {
        "zh": "编号 {id} 保留给图层的模式定义",
        "en": "the id {id} is reserved for the layer's schema",
    },
    "problem_changed_twice": {
        "zh": "同一要素在一次提交中被修改两次",
        "en": "the same feature is changed twice in one commit",
    },
    "problem_delete_with_feature": {
        "zh": "删除操作不应带有要素内容",
        "en": "a delete carries no feature; drop its body",
    },
    "problem_no_feature": {"zh": "未给出要素", "en": "no feature given"},
    "problem_id_mismatch": {
        "zh": "要素自身的编号 {id} 与变更中的编号不一致",
        "en": "the feature's own id {id} differs from the change's",
    },
    "problem_id_not_text": {
        "zh": "要素编号 {value} 是 {type}，编号应为文本",
        "en": "feature id {value} is a {type}; ids are text",
    },
    "problem_id_too_long": {
        "zh": "编号长 {length} 个字符，最多 {max} 个",
        "en": "the id is {length} characters long; an id holds at most {max}",
    },
    "problem_id_missing": {"zh": "要素没有编号", "en": "a feature has no id"},
    "problem_id_white_space": {"zh": "编号首尾有空白字符", "en": "the id has leading or trailing white space"},
    "problem_id_not_unicode": {
        "zh": "编号不是有效的 Unicode 文本（含孤立代理字符）",
        "en": "the id is not valid Unicode text (it holds a lone surrogate)",
    },
    "problem_id_control_character": {
        "zh": "编号含有控制字符或双向文本控制字符",
        "en": "the id holds a control character or a bidi override",
    },
    "problem_id_not_nfc": {
        "zh": "编号不是 Unicode NFC 形式（应写作 {nfc}）",
        "en": "the id is not in Unicode NFC form (write it as {nfc})",
    },
    "problem_unknown_property": {
        "zh": "图层未定义属性“{field}”",
        "en": "unknown property '{field}' (layer {layer} has: {known})",
    },
    "problem_text_not_unicode": {
        "zh": "“{field}”不是有效的 Unicode 文本（含孤立代理字符）",
        "en": "{field} is not valid Unicode text (it holds a lone surrogate)",
    },
    "problem_text_holds_nul": {
        "zh": "“{field}”含有 NUL 字符（\\u0000），孪生中的文本不能含有该字符",
        "en": "{field} holds a NUL character (\\u0000), which text in the twin may not hold",
    },
    "problem_text_control_character": {
        "zh": "“{field}”含有控制字符 {character}：文本可含制表符和换行，不能含其他控制字符或双向文本控制字符",
        "en": "{field} holds the control character {character}; it may hold tab and line breaks but no control or "
        "bidi override characters",
    },
    "problem_text_too_long": {
        "zh": "“{field}”长 {length} 个字符，最多 {max} 个（{setting}）",
        "en": "{field} is {length} characters long; it may hold at most {max} ({setting})",
    },
    "problem_required_missing": {"zh": "缺少必填属性“{field}”", "en": "required property '{field}' is missing"},
    # {expected}: problem_type_<field type>; {got}: the value as written, or what kind of value it is
    "problem_wrong_type": {
        "zh": "“{field}”类型不正确：应为{expected}，实为{got}",
        "en": "{field} must be {expected}, got {got}",
    },
    "problem_type_string": {"zh": "文本", "en": "text"},
    "problem_type_integer": {"zh": "整数", "en": "an integer"},
    "problem_type_number": {"zh": "有限数值", "en": "a finite number"},
    "problem_type_boolean": {"zh": "是或否（true/false）", "en": "true or false"},
    "problem_type_list": {"zh": "文本列表", "en": "a list of text values"},
    "problem_type_date": {"zh": "日期（YYYY-MM-DD）", "en": "a date YYYY-MM-DD"},
    "problem_actual_boolean": {"zh": "布尔值", "en": "a boolean"},
    "problem_actual_bool": {"zh": "布尔值", "en": "bool"},
    "problem_actual_dict": {"zh": "对象", "en": "dict"},
    "problem_actual_list": {"zh": "列表", "en": "list"},
    "problem_number_too_large": {
        "zh": "“{field}”的值过大，不是有限数值",
        "en": "{field} must be a finite number, got one too large",
    },
    "problem_integer_out_of_range": {
        "zh": "“{field}”的值 {value} 超出 64 位整数范围（-9223372036854775808 至 9223372036854775807）",
        "en": "{field}={value} does not fit a 64-bit integer (from -9223372036854775808 to 9223372036854775807)",
    },
    "problem_integer_inexact": {
        "zh": "“{field}”的值过大，已被读作浮点数，不是精确的整数；整数取 -9223372036854775808 至 9223372036854775807",
        "en": "{field} is too large to be an exact integer (it was read as a floating-point number); an integer "
        "takes whole numbers from -9223372036854775808 to 9223372036854775807",
    },
    "problem_unknown_type": {"zh": "“{field}”的类型 {type} 未知", "en": "{field} has unknown type {type}"},
    # a value the schema does not allow, with the allowed ones by their labels (the code in brackets)
    "problem_value_not_allowed": {
        "zh": "“{field}”的值 {value} 不在允许值之内（{allowed}）",
        "en": "{field} = {value} is not one of the allowed values: {allowed}",
    },
    "problem_unexpected_geometry": {
        "zh": "本图层为无几何的台账记录，却带有几何",
        "en": "layer {layer} holds records without geometry",
    },
    "problem_no_geometry": {"zh": "缺少几何", "en": "no geometry"},
    "problem_geometry_type": {
        "zh": "几何类型为 {geometry_type}，本图层只接受 {allowed}",
        "en": "geometry is a {geometry_type}; layer {layer} takes {allowed}",
    },
    "problem_geometry_empty": {"zh": "几何为空", "en": "geometry is empty"},
    "problem_geometry_not_finite": {
        "zh": "几何坐标不是有限数值",
        "en": "geometry has coordinates that are not finite numbers",
    },
    "problem_geometry_invalid": {"zh": "几何无效：{detail}", "en": "invalid geometry: {detail}"},
    # the register check's own problem (web.checks): a project naming a feature deleted since
    "problem_feature_reference_missing": {
        "zh": "涉及的要素 {ref} 在孪生中不存在",
        "en": "names {ref}, a feature the twin does not have",
    },
    # GEOS's reasons for an invalid geometry (shapely.is_valid_reason gives them in English), and
    # where: "Self-intersection[121.29925 31.18825]" (web.checks.geos_reason_text)
    "geos_Self-intersection": {"zh": "边界自相交", "en": "the outline crosses itself"},
    "geos_Ring Self-intersection": {"zh": "环自相交", "en": "a ring touches itself"},
    "geos_Too few points in geometry component": {"zh": "顶点过少", "en": "too few points"},
    "geos_Hole lies outside shell": {"zh": "洞在外环之外", "en": "a hole lies outside the outline"},
    "geos_Nested holes": {"zh": "洞相互嵌套", "en": "holes lie inside one another"},
    "geos_Nested shells": {"zh": "外环相互嵌套", "en": "outlines lie inside one another"},
    "geos_Interior is disconnected": {"zh": "内部不连通", "en": "the inside is split in parts"},
    "geos_Duplicate Rings": {"zh": "环重复", "en": "a ring is repeated"},
    "geos_Ring is not closed": {"zh": "环未闭合", "en": "a ring is not closed"},
    "geos_Invalid Coordinate": {"zh": "坐标无效", "en": "a coordinate is not a number"},
    "geos_at": {"zh": "{what}（位置 {where}）", "en": "{what} (at {where})"},
    # a layer's schema change on the change map's list (web.check_views)
    "schema_change": {"zh": "图层结构（字段）", "en": "layer schema (fields)"},
    "schema_field_renamed": {"zh": "字段改名：{old} → {new}", "en": "field renamed: {old} → {new}"},
    "schema_field_added": {"zh": "新增字段：{field}", "en": "field added: {field}"},
    "schema_field_dropped": {"zh": "删除字段：{field}", "en": "field dropped: {field}"},
    "schema_field_changed": {"zh": "字段定义变更：{field}", "en": "field changed: {field}"},
    "schema_layer_changed": {"zh": "图层设置变更", "en": "layer settings changed"},
    "schema_layer_created": {"zh": "图层新建", "en": "layer created"},
    "schema_layer_removed": {"zh": "图层删除", "en": "layer removed"},
    "problem_outside_area": {
        "zh": "几何（{bounds}）位于场馆范围之外（坐标系或 GCJ-02 偏移有误？）",
        "en": "geometry ({bounds}) lies outside the venue's area of interest ({area}) "
        "(lon/lat; was it given in another CRS or in GCJ-02?)",
    },
    "attributes": {"zh": "属性", "en": "Attributes"},
    "feature_id": {"zh": "要素编号", "en": "Feature id"},
    "layer": {"zh": "图层", "en": "Layer"},
    "pick_layer": {"zh": "其他图层", "en": "Other layers"},
    # the layer check: problems by reason (web/checks.py REASON_KINDS)
    "reason_geometry_invalid": {"zh": "几何无效", "en": "Invalid geometry"},
    "reason_geometry_empty": {"zh": "几何为空或缺失", "en": "Empty or missing geometry"},
    "reason_geometry_type": {"zh": "几何类型不符", "en": "Wrong geometry type"},
    "reason_outside_venue": {"zh": "位于场馆范围之外", "en": "Outside the venue"},
    "reason_required_missing": {"zh": "缺少必填属性", "en": "Missing required field"},
    "reason_value_not_allowed": {"zh": "属性值不在允许值之内", "en": "Value not allowed"},
    "reason_wrong_type": {"zh": "属性值类型不正确", "en": "Value of the wrong type"},
    "reason_unknown_field": {"zh": "图层未定义的属性", "en": "Field the layer does not define"},
    "reason_bad_id": {"zh": "要素编号不合规", "en": "Unusable feature id"},
    "reason_other": {"zh": "其他问题", "en": "Other problems"},
    "reason_attribute_expected": {
        "zh": "缺少同类要素都填写的属性",
        "en": "Missing attributes its peers have",
    },
    # the layer check: attribute table
    "attr_table": {"zh": "属性表", "en": "Attribute table"},
    "code": {"zh": "编号", "en": "Code"},
    "filter": {"zh": "筛选", "en": "Filter"},
    "filter_placeholder": {"zh": "编号、名称或任一属性值…", "en": "Code, name or any value…"},
    "problems_only": {"zh": "只看问题要素", "en": "Problems only"},
    "rows_shown": {"zh": "显示 {shown} / {total}", "en": "{shown} of {total} shown"},
    "table_hint": {"zh": "点击表头排序，点击行定位到要素", "en": "Click a header to sort, a row to zoom to it"},
    "table_hint_records": {"zh": "点击表头排序", "en": "Click a header to sort"},
    "table_truncated": {
        "zh": "表中列出 {shown} 个要素（含全部问题要素），共 {total} 个；完整数据请下载：",
        "en": "The table lists {shown} of {total} features (every one with a problem among them); "
        "download the layer for all:",
    },
    "download": {"zh": "下载", "en": "Download"},
    "register_note": {
        "zh": "台账记录没有几何，不上地图，以表格列出。",
        "en": "The register's records have no geometry: they are listed as a table, not drawn on a map.",
    },
    "stack_n": {"zh": "此处有 {n} 个要素", "en": "{n} features here"},
    "stack_prev": {"zh": "上一个", "en": "Previous"},
    "stack_next": {"zh": "下一个", "en": "Next"},
    # the change map's side list
    "changes_geometry": {
        "zh": "几何变化（新增、删除、移动或改形）",
        "en": "Geometry changes (added, deleted, moved or reshaped)",
    },
    "changes_attributes": {"zh": "仅属性变化", "en": "Attribute-only changes"},
    "changes_none_here": {"zh": "无", "en": "None"},
    "hide_register": {"zh": "隐藏工程台账的变化（{n}）", "en": "Hide the project register's changes ({n})"},
    "record": {"zh": "台账记录", "en": "record"},
    "too_many": {
        "zh": "此范围内要素过多（{n}），请放大查看。",
        "en": "Too many features here ({n}); zoom in to see them.",
    },
    "loading": {"zh": "加载中…", "en": "Loading…"},
    "load_failed": {"zh": "数据加载失败：{error}", "en": "Could not load the data: {error}"},
    "exported": {"zh": "离线导出于 {time}", "en": "Exported for offline use on {time}"},
    "zoom_in": {"zh": "放大", "en": "Zoom in"},
    "zoom_out": {"zh": "缩小", "en": "Zoom out"},
    "layer_list": {"zh": "图层", "en": "Layers"},
    "map_keys": {
        "zh": "地图：方向键平移，+ / − 缩放，回车查看中心十字处的要素",
        "en": "Map: arrow keys move, + and − zoom, Enter shows what lies under the centre cross",
    },
    "basemap": {"zh": "底图", "en": "Basemap"},
    # the completion map printed from a small window (venue-map.js, beforeprint): laid out again at the
    # printed size, its imagery's tiles would print half loaded, so it prints without them and says so
    "print_imagery_left_out": {
        "zh": "航测影像未打印：从小窗口打印时影像尚未按纸面大小载入。需要影像请在更宽的窗口中打印。",
        "en": "Survey imagery not printed: from a small window it is not loaded at the paper's size. "
        "Print from a wider window to include it.",
    },
    "survey_orthophoto": {"zh": "正射影像", "en": "Orthophoto"},
    "survey_layer": {"zh": "{kind} {date}", "en": "{kind} {date}"},
    "survey_basemap_group": {"zh": "航测影像", "en": "Survey imagery"},
    "survey_attribution": {"zh": "{kind} {date} 航测（{resolution} 米）", "en": "{kind} flown {date} ({resolution} m)"},
    "survey_attribution_demo": {"zh": "{kind} {date}（合成演示，非真实航测）", "en": "{kind} {date} (synthetic demo)"},
    "survey_after_shown": {
        "zh": "，晚于所示日期 {date}（此前没有航测）",
        "en": ", after the date shown, {date} (none was flown before it)",
    },
    "legend_ndvi": {"zh": "植被指数 NDVI", "en": "Vegetation index (NDVI)"},
    "legend_drawn_over": {"zh": "色带：本次航测数值的第 2–98 百分位", "en": "ramp: this flight's 2nd–98th percentile"},
    # single-band survey kinds in words (the legend's title); another kind is named by its code
    "survey_kind_thermal": {"zh": "地表温度（热红外）", "en": "Surface temperature (thermal)"},
    "survey_kind_dsm": {"zh": "数字表面模型高程", "en": "Surface elevation"},
    "survey_kind_dem": {"zh": "数字高程模型", "en": "Terrain elevation"},
    "survey_kind_ndre": {"zh": "红边植被指数", "en": "Red-edge vegetation index"},
    "survey_kind_ndwi": {"zh": "水体指数", "en": "Water index"},
    "survey_kind_other": {"zh": "{kind} 航测数值", "en": "{kind} values"},
    "legend_bare": {"zh": "裸地", "en": "bare"},
    "legend_green": {"zh": "植被茂盛", "en": "dense green"},
    "map_attribution": {
        "zh": "{product} · 数据 {version} · 位置为示意",
        "en": "{product} · data {version} · positions approximate",
    },
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    # the printed briefing (web/brief.py)
    "brief_title": {"zh": "进博会场馆保障工程完成情况简报", "en": "CIIE venue preparation: briefing"},
    "brief_days_left": {"zh": "距开幕还有 {n} 天", "en": "{n} days to opening day"},
    "brief_map": {"zh": "工程完成情况图", "en": "Completion map"},
    "brief_map_empty": {"zh": "此日期孪生中还没有场馆要素。", "en": "The twin holds no venue features on this date."},
    "brief_key_figures": {"zh": "关键指标", "en": "Key figures"},
    "brief_variance": {"zh": "较计划 {v} 个百分点", "en": "{v} points against plan"},
    "brief_planned_mark": {"zh": "竖线为计划进度", "en": "The tick marks the plan"},
    "brief_opening": {"zh": "开幕日", "en": "Opening day"},
    "brief_greenery": {"zh": "绿化（不属于工程）", "en": "Greenery (not in a project)"},
    "brief_upper_level": {"zh": "16米层展厅（内缩绘制）", "en": "Upper-level (16 m) halls, drawn inset"},
    "brief_building": {"zh": "四叶草场馆主体轮廓", "en": "Four-leaf-clover building outline"},
    "brief_roads": {"zh": "道路（不属于工程）", "en": "Roads (not in a project)"},
    "north": {"zh": "北", "en": "N"},
    "brief_data_age": {
        "zh": "数据：{latest}；孪生版本 {version}（{time} 提交）",
        "en": "Data: {latest}; twin version {version} (committed {time})",
    },
    "brief_latest_report": {"zh": "最新填报 {date}（{age}）", "en": "latest report {date} ({age})"},
    "brief_same_day": {"zh": "当日", "en": "that day"},
    "brief_days_old": {"zh": "{n} 天前", "en": "{n} days earlier"},
    "brief_no_reports": {"zh": "尚无进度填报", "en": "no progress reported yet"},
    "brief_code": {"zh": "编号", "en": "Code"},
    "brief_actual_planned": {"zh": "完成 / 计划", "en": "Done / planned"},
    "brief_days_late": {"zh": "滞后天数", "en": "Days late"},
    # of missing opening day: the same words as the map's popup and the project page (late_chance)
    "brief_p_late": {"zh": "赶不上开幕日的概率", "en": "Chance late"},
    "brief_last_report": {"zh": "上次填报", "en": "Last report"},
    "brief_days_since": {"zh": "未报天数", "en": "Days since"},
    "brief_never": {"zh": "从未填报", "en": "never"},
    "brief_stale_mark": {"zh": "（过期）", "en": "(stale)"},
    # a project the imagery disagrees with, and what the imagery showed
    "brief_imagery_says": {"zh": "{name}：{flag}", "en": "{name}: {flag}"},
    # a forecast carried forward (the map's "forecast_passed"): ``was`` the finish forecast before,
    # gone by (MM-DD); short, as the late table's rows are one line each
    "brief_forecast_passed": {"zh": "{date}（原预测 {was}）", "en": "{date} (was {was})"},
    # not reported done by a date after opening day: it missed it (no chance of it, a fact)
    "brief_missed": {"zh": "已误期", "en": "missed"},
    "brief_missing_none": {"zh": "没有逾期未报的进度。", "en": "No report is overdue."},
    # a briefing table's "more" line: how many it leaves out, and the page (HTML, of the briefing's
    # date and language) that lists every one of them (web.brief.ListPages)
    "brief_more_late": {
        "zh": "另有 {n} 项；全部滞后工程按责任单位列于：{url}",
        "en": "{n} more; every late project, by responsible unit: {url}",
    },
    "brief_more_missing": {
        "zh": "另有 {n} 项；全部逾期未报工程按责任单位列于：{url}",
        "en": "{n} more; every overdue report, by responsible unit: {url}",
    },
    "brief_imagery_version": {
        "zh": "航测影像：截至孪生版本 {version} 已登记的航测。",
        "en": "Imagery: the surveys recorded by twin version {version}.",
    },
    "brief_source": {
        "zh": "来源：{product}，版本 {version}（{time} 提交）。",
        "en": "Source: {product}, version {version} (committed {time}).",
    },
    "brief_generated": {"zh": "生成于 {time}", "en": "Made {time}"},
    # the note under a briefing's header when its date is before opening day and it is made after
    # (web.brief.DateNote): which date the paper shows, then that opening day has since passed
    "brief_note_shows": {"zh": "本简报显示 {date}（{when}）的情况。", "en": "This briefing shows {date}, {when}."},
    "brief_note_shows_latest": {
        "zh": "本简报显示 {date}（{when}，有填报数据的最近节点）的情况。",
        "en": "This briefing shows {date}, {when}, the latest checkpoint with reports.",
    },
    "brief_note_before": {"zh": "开幕前 {n} 天", "en": "{n} days before opening day"},
    "brief_note_day_before": {"zh": "开幕前 1 天", "en": "the day before opening day"},
    "brief_note_on_opening": {"zh": "开幕日当天", "en": "opening day itself"},
    "brief_note_passed": {
        "zh": "此后开幕日已过（今天是 {today}）。",
        "en": "Opening day has since passed (today: {today}).",
    },
    # under the key figures' area bars: what a bar's colour says (web.brief.area_status)
    "brief_bar_colour": {"zh": "条形颜色为该区域最差工程的状态", "en": "Bar colour: the area's worst project status"},
}

# The OGC API's HTML pages (api/html.py): the collections, their items and features, for engineers.
_LABELS.update(
    {
        "collections": {"zh": "图层", "en": "Collections"},
        "conformance": {"zh": "符合性声明", "en": "Conformance"},
        "conformance_intro": {
            "zh": "本服务实现的 OGC API 标准部分（符合性类）：",
            "en": "The parts of the OGC API standards this service implements (conformance classes):",
        },
        "collections_intro": {
            "zh": "场馆孪生的各图层，每个图层是一个 OGC API Features 集合。",
            "en": "The venue twin's layers, each an OGC API - Features collection.",
        },
        "items": {"zh": "要素", "en": "Items"},
        "queryables": {"zh": "可查询字段", "en": "Queryables"},
        "queryables_of": {"zh": "可查询字段：{layer}", "en": "Queryables: {layer}"},
        "queryables_intro": {
            "zh": "可用于 filter（CQL2）和 sortby 的字段。",
            "en": "The fields a filter (CQL2) and sortby can use.",
        },
        "json": {"zh": "JSON", "en": "JSON"},
        "geojson": {"zh": "GeoJSON", "en": "GeoJSON"},
        "layer_id": {"zh": "编号", "en": "Id"},
        "title": {"zh": "名称", "en": "Title"},
        "description": {"zh": "说明", "en": "Description"},
        "spatial_extent": {"zh": "空间范围（经纬度）", "en": "Spatial extent (lon/lat)"},
        "time_range": {"zh": "时间范围", "en": "Time range"},
        "first_version": {"zh": "最早版本 {time}", "en": "first version {time}"},
        "time_open": {"zh": "至今（仍在更新）", "en": "until now (still current)"},
        "geometry_type": {"zh": "几何类型", "en": "Geometry type"},
        "no_geometry": {"zh": "无几何（台账记录）", "en": "none (records)"},
        "feature_count": {"zh": "要素数量", "en": "Features"},
        "field": {"zh": "字段", "en": "Field"},
        "field_type": {"zh": "类型", "en": "Type"},
        "allowed_values": {"zh": "取值", "en": "Allowed values"},
        "field_unit": {"zh": "单位", "en": "Unit"},
        "browse_items": {"zh": "浏览要素", "en": "Browse the features"},
        "downloads": {"zh": "下载", "en": "Downloads"},
        "download_as": {"zh": "下载 {format}", "en": "Download as {format}"},
        "format_geojson": {"zh": "GeoJSON", "en": "GeoJSON"},
        "format_gpkg": {"zh": "GeoPackage", "en": "GeoPackage"},
        "format_shapefile": {"zh": "Shapefile（zip 压缩包）", "en": "zipped Shapefile"},
        "format_csv": {"zh": "CSV（几何为 WKT）", "en": "CSV with WKT"},
        "vector_tilesets": {"zh": "矢量瓦片集（Mapbox Vector Tiles）", "en": "Vector tilesets (Mapbox Vector Tiles)"},
        "feature_schema": {
            "zh": "要素的 JSON Schema（GeoJSON，GIS 据此建字段）",
            "en": "The JSON Schema of its GeoJSON features (GIS tools take their fields from it)",
        },
        "other_links": {"zh": "其他链接", "en": "Other links"},
        "items_range": {
            "zh": "第 {first}–{last} 个，共 {matched} 个要素",
            "en": "Features {first}–{last} of {matched}",
        },
        "items_returned": {"zh": "本页 {returned} 个，共 {matched} 个要素", "en": "{returned} of {matched} features"},
        "items_none": {"zh": "没有符合条件的要素。", "en": "No feature matches."},
        "next_page": {"zh": "下一页", "en": "Next page"},
        "prev_page": {"zh": "上一页", "en": "Previous page"},
        "query_in_effect": {"zh": "查询条件", "en": "Query"},
        "read_at": {"zh": "版本 {id}（{time}）", "en": "Version {id} ({time})"},
        "version_pick": {"zh": "查看版本", "en": "Version"},
        "version_head": {"zh": "当前版本（HEAD）", "en": "Current (HEAD)"},
        "versions_of_layer": {"zh": "修改过本图层的提交", "en": "Commits that changed this layer"},
        "versions_of_feature": {"zh": "本要素的各版本", "en": "Versions of this feature"},
        "checkpoints": {"zh": "倒排节点", "en": "Checkpoints"},
        "properties": {"zh": "属性", "en": "Properties"},
        "other_properties": {"zh": "其他属性", "en": "Other properties"},
        "history_json": {"zh": "历史版本（JSON）", "en": "History (JSON)"},
        "map_of_items": {"zh": "本页要素地图", "en": "Map of the features on this page"},
        "map_of_feature": {"zh": "要素位置", "en": "Map of the feature"},
        "open_layer_check": {"zh": "在图层核查图中查看", "en": "Open in the layer check map"},
        "records_table": {
            "zh": "该图层为无几何的台账记录，没有地图。",
            "en": "This layer holds records without geometry, so there is no map.",
        },
        "op_add": {"zh": "新增", "en": "added"},
        "op_modify": {"zh": "修改", "en": "modified"},
    }
)

# The layer check of a survey layer and the error pages' explanations (web/check_views.py,
# web/error_page.py): kept together in one block.
_LABELS.update(
    {
        # every survey kind in words, the colour orthophoto and the NDVI too (the layer check's table)
        "survey_kind_orthophoto": {"zh": "正射影像", "en": "Orthophoto"},
        "survey_kind_ndvi": {"zh": "植被指数（NDVI）", "en": "Vegetation index (NDVI)"},
        # a single-band survey's name in the map's layer control, and its word in the credit line
        # (web.imagery.kind_names); a kind without them is named by its legend's words or its code
        "survey_layer_kind_ndvi": {"zh": "NDVI", "en": "NDVI"},
        "survey_credit_kind_ndvi": {"zh": "NDVI", "en": "NDVI"},
        "survey_layer_kind_thermal": {"zh": "热红外航测", "en": "Thermal survey"},
        "survey_credit_kind_thermal": {"zh": "热红外", "en": "Thermal"},
        "survey_layer_kind_other": {"zh": "{kind} 航测", "en": "{kind} survey"},
        # an error page's explanation, by the code of the error (twin.errors.ERROR_CODES names the values)
        "error_kind_date_after_today": {
            "zh": "{date} 晚于今天（{today}），系统中还没有那天的数据。",
            "en": "{date} is after today ({today}): the twin has no reports from then.",
        },
        "error_kind_no_data_then": {
            "zh": "系统的数据从 {since} 开始，{when} 还没有数据。",
            "en": "The twin has no data on {when}: its records start on {since}.",
        },
        "error_kind_not_a_date": {
            "zh": "“{value}”不是日期（如 2026-10-26）或倒排节点（如 T-30）。",
            "en": "'{value}' is not a date (YYYY-MM-DD) or a checkpoint (T-30).",
        },
        "error_kind_not_a_time": {
            "zh": "“{value}”不是日期（如 2026-10-26）或时间（如 2026-10-26T08:00:00Z）。",
            "en": "'{value}' is not a date (such as 2026-10-26) or a time (such as 2026-10-26T08:00:00Z).",
        },
        "error_kind_unknown_parameter": {
            "zh": "此页面没有参数 {parameter}，可用的参数为：{takes}。",
            "en": "This page has no parameter {parameter}; it takes {takes}.",
        },
        "error_kind_unknown_parameter_none": {
            "zh": "此页面不接受参数（链接中有 {parameter}）。",
            "en": "This page takes no parameters (the address gives {parameter}).",
        },
        "error_kind_not_one_of": {
            "zh": "“{value}”不是可选的值，可选：{allowed}。",
            "en": "'{value}' is not one of {allowed}.",
        },
        "error_kind_no_layer": {"zh": "没有名为 {layer} 的图层。", "en": "There is no layer {layer}."},
        "error_kind_no_feature": {
            "zh": "图层 {layer} 中没有编号为 {feature} 的要素（在所读的版本中）。",
            "en": "There is no feature {feature} in layer {layer} (in the version read).",
        },
        "error_kind_no_collection": {
            "zh": "没有名为 {collection} 的数据集。",
            "en": "There is no collection {collection}.",
        },
        "error_kind_no_address": {
            "zh": "没有这个页面：{path}。首页列出本服务的全部页面。",
            "en": "There is no page at {path}; the home page links to every page of this service.",
        },
        "error_kind_repeated_parameter": {
            "zh": "参数 {parameter} 在链接中出现了 {times} 次，请只保留一个。",
            "en": "The address gives {parameter} {times} times; give it once.",
        },
        "error_kind_not_a_boolean": {
            "zh": "参数 {parameter} 只能是 true（是）或 false（否），链接中为“{value}”。",
            "en": "{parameter} takes true or false; the address gives '{value}'.",
        },
        "error_kind_before_first_commit": {
            "zh": "{version} 早于系统的第一个版本，没有那么早的版本。",
            "en": "{version} reaches back before the twin's first version.",
        },
        "error_kind_no_survey": {
            "zh": "没有可供显示的航测影像“{value}”。请在地图的影像菜单中选择，或用 off 关闭影像。",
            "en": "There is no survey '{value}' to show; pick one from the map's imagery menu, or off for none.",
        },
    }
)

# The maps' panels: what a list shortened leaves out, and where a leader reads the rest (an HTML page
# of the panel's date in its language, web.panels.units_page_url; not a JSON address); the change
# map's default versions when survey imports came after the last change it shows (web.maps.default_versions).
_LABELS.update(
    {
        "more_late_n": {"zh": "另有 {n} 项滞后工程", "en": "{n} more late projects"},
        "more_late_all": {"zh": "按责任单位查看全部滞后工程", "en": "every late project, by responsible unit"},
        "more_flagged_n": {
            "zh": "另有 {n} 项未列出（此处只列出前 {shown} 项）",
            "en": "{n} more, not listed (this list stops at {shown})",
        },
        "changes_surveys_after": {
            "zh": "最近一次场馆或工程台账的修改；其后的提交（{n} 次）只录入了航测影像，本图不比较航测影像。",
            "en": "The latest change to the venue or the project register; the commits after it ({n}) only "
            "recorded survey imagery, which this map does not compare.",
        },
    }
)

# The completion map of a twin holding no venue features (a register brought in from a workbook into
# an empty twin, web/templates/panel_no_features.html), under "brief_map_empty", the briefing's words.
_LABELS.update(
    {
        "map_no_features_note": {
            "zh": "工程的完成情况见面板中的数字和清单。导入场馆图层，并在项目清单的“关联要素”列填写各工程的要素，即可在地图上显示。",
            "en": "The projects' figures and lists are in the panel. Import the venue's layers and name each "
            "project's features in the register (the features column, 关联要素) to see them on the map.",
        },
    }
)

# The evidence page (GET /evidence?f=html, web.evidence_page): every project the imagery disagrees
# with, which the completion map's list and the briefing's imagery group name for the rest of them
# (web.panels.evidence_page_url).
_LABELS.update(
    {
        "evidence_title_flagged": {
            "zh": "影像与填报不符的工程（{date}）",
            "en": "Projects the imagery disagrees with on {date}",
        },
        "evidence_title_all": {"zh": "航测影像核查（{date}）", "en": "Evidence from imagery on {date}"},
        "evidence_note": {
            "zh": "航测时的填报（航测当日或之前最近一次）高出影像估算 {margin} 个百分点以上的工程标为影像与填报不符"
            "（“影像”标记），差距大的在前。影像估算：影像显示已完成的部分占计划覆盖面积的比例。",
            "en": "The imagery is set against the report as it stood when the survey was flown (the latest report "
            "on or before the flight's day). A project is flagged (the imagery badge) when that report is more "
            "than {margin} points above the imagery's estimate; flagged projects come first, the widest gap "
            "first. A report made after the flight is not judged by the older imagery. The imagery's estimate: "
            "the share of the project's planned cover the imagery shows done.",
        },
        "evidence_counts": {
            "zh": "影像可估算 {measured} 项工程，其中 {flagged} 项与填报不符。",
            "en": "The imagery measures {measured} projects; it disagrees with the report of {flagged}.",
        },
        "evidence_reported": {"zh": "航测时的填报", "en": "Reported when flown"},
        # under the report the imagery is set against: the one of the date asked, when made since
        "evidence_reported_now": {"zh": "现 {percent}（{date}）", "en": "now {percent} ({date})"},
        "evidence_older_short": {"zh": "影像早于填报，需重新航测", "en": "imagery older than the report: fly again"},
        "evidence_fly_again": {
            "zh": "影像早于填报（{n} 项）：航测之后填报的进度超出影像所见 {margin} 个百分点以上，旧影像无法核查，"
            "不算不符，需重新航测：",
            "en": "Imagery older than the report ({n}): reported since the flight at more than {margin} points above "
            "what the imagery shows, which the older imagery cannot check; not flagged, fly again:",
        },
        "evidence_no_imagery": {
            "zh": "孪生库中还没有航测影像，影像无法估算任何工程。请用 venue-twin raster import 导入无人机航测的"
            "正射影像和植被指数（NDVI）影像（见 README“Survey rasters”一节）。",
            "en": "The twin holds no survey imagery yet, so the imagery measures no project. Import the drone "
            "surveys (orthophotos and NDVI) with venue-twin raster import (README, “Survey rasters”).",
        },
        "evidence_estimate": {"zh": "影像估算", "en": "Imagery estimate"},
        "evidence_shows": {"zh": "影像所见", "en": "What the imagery shows"},
        "evidence_measured_planned": {"zh": "（计划覆盖 {planned}%）", "en": " (of a planned {planned} %)"},
        "evidence_flown": {"zh": "航测日期", "en": "Survey flown"},
        "evidence_gap": {"zh": "差距（百分点）", "en": "Gap (points)"},
        "evidence_none_flagged": {
            "zh": "{date} 没有填报完成率明显高于影像所见的工程。",
            "en": "On {date} no project reports much more than the imagery shows.",
        },
        "evidence_none_measured": {
            "zh": "{date} 航测影像未能估算任何工程。",
            "en": "On {date} the survey imagery measures no project.",
        },
        "evidence_unmeasured": {
            "zh": "影像无法估算的工程（{n} 项：室内工程、灯具、标识等从空中看不到，尚未开工，或没有覆盖它的航测）：",
            "en": "No estimate from the imagery ({n}: interior work, lamps and signs are not visible from above, "
            "the work has not started, or no survey covers it):",
        },
        "evidence_show_all": {"zh": "查看影像可估算的全部工程", "en": "Every project the imagery measures"},
        "evidence_show_flagged": {
            "zh": "只看影像与填报不符的工程",
            "en": "Only the projects the imagery disagrees with",
        },
        # the completion map's and the briefing's "more" lines: where every one of them is listed
        "more_flagged_all": {"zh": "查看全部影像与填报不符的工程", "en": "every project the imagery disagrees with"},
        "brief_more_imagery_page": {
            "zh": "另有 {n} 项；全部影像与填报不符的工程列于：{url}",
            "en": "{n} more; every project the imagery disagrees with: {url}",
        },
    }
)

# Why the imagery gives a project no estimate, worded from the reason's code and values
# (completion.evidence.REASON_CODES; web.evidence_page.reason_text), as the error pages word an
# error's code ("error_kind_<code>"). The English is the API's `reason`, word for word, but for
# surveys_unavailable, whose sentence joins each survey's why (the JSON's skipped_surveys).
_LABELS.update(
    {
        "evidence_reason_no_geometry": {
            "zh": "工程所含要素都没有可测量的图形",
            "en": "none of its features has a geometry to measure",
        },
        "evidence_reason_planting_not_cover": {
            "zh": "按{unit}计量的种植（树木、灌溉、绿篱、墙面绿化）从空中看不出绿化覆盖",
            "en": "planting counted in {unit} (trees, irrigation, hedges, walls) is not seen as cover from above",
        },
        "evidence_reason_lines_only": {
            "zh": "工程要素是道路或线状要素，在航测影像的分辨率下，分隔带或一排行道树与周边分辨不开",
            "en": "its features are roads or lines; at survey resolution a median or a tree row cannot be told "
            "from its surroundings",
        },
        "evidence_reason_too_thin": {
            "zh": "按{unit}计量的工程（标线、标志、路缘石）太窄太小，在航测影像的分辨率下看不清",
            "en": "work measured in {unit} (markings, signs, kerbs) is too thin to see at survey resolution",
        },
        "evidence_reason_no_surface": {
            "zh": "工程要素中没有道路或广场铺面",
            "en": "none of its features is a road or plaza surface",
        },
        "evidence_reason_interior_work": {
            "zh": "室内工程从空中看不到",
            "en": "interior work is not visible from above",
        },
        "evidence_reason_lamps_too_small": {
            "zh": "灯具太小，白天航测的影像上看不清",
            "en": "lamps are too small to see in a daytime survey",
        },
        "evidence_reason_facades_not_visible": {
            "zh": "建筑立面、招牌和地下管线从空中看不到",
            "en": "facades, signboards and buried cables are not visible from above",
        },
        "evidence_reason_kind_not_measured": {
            "zh": "航测影像无法估算这类工程（{category_label}）",
            "en": "imagery cannot measure this kind of work ({category_label})",
        },
        "evidence_reason_work_not_measured": {
            "zh": "航测影像无法估算这类工程",
            "en": "imagery cannot measure this kind of work",
        },
        "evidence_reason_not_started": {
            "zh": "尚未开工（计划 {start} 开工）",
            "en": "not started yet (planned start {start})",
        },
        "evidence_reason_no_imagery": {
            "zh": "孪生库中尚无航测影像，需先导入无人机航测",
            "en": "the twin holds no survey imagery: import drone surveys (venue-twin raster import)",
        },
        "evidence_reason_no_survey": {
            "zh": "自计划开工日 {start} 至 {on}，尚未开展{kind}航测",
            "en": "no {kind} survey flown between its planned start {start} and {on}",
        },
        "evidence_reason_no_survey_recorded": {
            "zh": "版本 {version} 录入的航测中，没有自计划开工日 {start} 至 {on} 开展的{kind}航测；"
            "{flown} 的航测 {survey} 是之后才在 {commit} 中录入的",
            "en": "no {kind} survey recorded by version {version} (surveys_version) flown between its planned start "
            "{start} and {on}; survey {survey}, flown {flown}, was recorded later, in {commit}",
        },
        "evidence_reason_survey_unavailable": {
            "zh": "本服务器读取不到航测影像 {survey} 的文件",
            "en": "survey {survey} unavailable: {why}",
        },
        "evidence_reason_surveys_unavailable": {
            "zh": "本服务器读取不到航测影像 {surveys} 的文件",
            "en": "surveys {surveys} unavailable on this server",
        },
        "evidence_reason_too_coarse": {
            "zh": "航测影像 {survey} 的像素（{resolution} 米）对工程范围（{area} 平方米，仅 {pixels} 个像素，"
            "至少需要 {needed} 个）来说太粗",
            "en": "survey {survey}'s pixels ({resolution} m) are too coarse for the footprint ({area} m², {pixels} "
            "of its pixels; at least {needed} needed)",
        },
        "evidence_reason_too_coarse_no_other": {
            "zh": "航测影像 {survey} 的像素（{resolution} 米）对工程范围（{area} 平方米，仅 {pixels} 个像素，"
            "至少需要 {needed} 个）来说太粗，开工以来也没有其他足够精细的{kind}航测覆盖它",
            "en": "survey {survey}'s pixels ({resolution} m) are too coarse for the footprint ({area} m², {pixels} "
            "of its pixels; at least {needed} needed), and no other {kind} survey flown since its planned start "
            "covers it finely enough",
        },
        "evidence_reason_too_little_coverage": {
            "zh": "航测影像 {survey} 只覆盖了工程范围的 {coverage}%（至少需要 {needed}%）",
            "en": "survey {survey} covers {coverage} % of the footprint (at least {needed} % needed)",
        },
        "evidence_reason_too_little_coverage_no_other": {
            "zh": "航测影像 {survey} 只覆盖了工程范围的 {coverage}%（至少需要 {needed}%），"
            "开工以来也没有其他{kind}航测覆盖足够的范围",
            "en": "survey {survey} covers {coverage} % of the footprint (at least {needed} % needed), and no other "
            "{kind} survey flown since its planned start covers enough",
        },
        "evidence_reason_no_unit": {"zh": "未注明的单位", "en": "no unit"},
    }
)

# Readability for the city-appearance teams (web/templating.py's `when`, the change map's legend and pickers).
_LABELS.update(
    {
        # a time shown on a page is Shanghai time, said once (`venue-twin log` prints UTC)
        "time_shanghai": {"zh": "北京时间 {time}", "en": "{time} UTC+8"},
        "commits_beijing": {"zh": "提交（北京时间）", "en": "Commit (UTC+8)"},
        # a report commit in a version picker: who reported first, the date being in the option's time
        "picker_report_by": {"zh": "{unit}填报", "en": "Report by {unit}"},
        "picker_report": {"zh": "进度填报", "en": "Progress report"},
        # the change map's legend counts the features drawn; the table below counts records without a shape too
        "changes_legend_drawn": {
            "zh": "图例计数为图上绘出的要素。全部变化（见下表）：新增 {added}、修改 {modified}、删除 {deleted}，"
            "其中 {n} 项为无图形的记录（工程台账），不在图上。",
            "en": "The legend counts the features drawn on the map. All changes (the table below): {added} added, "
            "{modified} modified, {deleted} deleted, {n} of them records without a shape (the project register), "
            "not drawn.",
        },
    }
)

# Leaders' paper and pages after opening day (the briefing's note, the late lists' wording, the
# change map in print).
_LABELS.update(
    {
        # a late project not reported done by a date after opening day: it missed opening day, said as
        # a fact, in place of a forecast finish gone by (a past date beside "missed" read as a contradiction)
        "not_done_by_opening": {"zh": "未在开幕日前报完工", "en": "not reported done by opening day"},
        # the change map on paper: the register's changes (no shape, nothing drawn) named in one
        # paragraph, not one card each (44 of them ran over a page and a half)
        "changes_register_print": {
            "zh": "工程台账变化 {n} 项（无图形，仅列名称）：",
            "en": "{n} project register changes (no shape; names only): ",
        },
    }
)

# The home page's headline on opening day or after it (web/landing.py), and the at-risk projects
# named on the completion map's panel and in the units table beside the late ones.
_LABELS.update(
    {
        # the projects not reported done by opening day (done since or not), counted from today's read
        "missed_opening_kpi": {"zh": "开幕日未完工", "en": "Missed opening day"},
        "still_not_done": {"zh": "仍未完工 {n} 项", "en": "{n} still not done"},
        "at_risk_projects": {"zh": "存在风险的工程", "en": "At-risk projects"},
        "more_at_risk_n": {"zh": "另有 {n} 项存在风险的工程", "en": "{n} more at-risk projects"},
        "more_at_risk_all": {
            "zh": "按责任单位查看全部存在风险的工程",
            "en": "every at-risk project, by responsible unit",
        },
    }
)


# The projects that missed opening day named where the home page counts them (its headline's words,
# missed_opening_kpi and still_not_done): the completion map's panel, the units page, the briefing, the
# project page (completion.rollup.missed_opening_list: still not done, then done since).
_LABELS.update(
    {
        # the late ones on and after opening day (each not done then missed it): the legends' key of the
        # red features too
        "missed_not_done": {"zh": "仍未完工", "en": "Still not done"},
        "missed_done_since": {"zh": "开幕日后报完工", "en": "Done since opening day"},
        "done_since_n": {"zh": "开幕日后报完工 {n} 项", "en": "{n} done since"},
        # a project reported done after opening day: it missed it all the same (its page, the lists)
        "missed_done_on": {
            "zh": "开幕日（{opening}）未完工，{date} 报完工",
            "en": "Missed opening day ({opening}); reported done {date}",
        },
        # a unit's project done since opening day, on the units page: its code, then this
        "done_since_on": {"zh": "{date} 报完工", "en": "done {date}"},
        "more_missed_n": {"zh": "另有 {n} 项开幕日未完工的工程", "en": "{n} more that missed opening day"},
        "more_missed_all": {
            "zh": "按责任单位查看全部开幕日未完工的工程",
            "en": "every project that missed opening day, by responsible unit",
        },
        "missed_none": {"zh": "没有开幕日未完工的工程。", "en": "No project missed opening day."},
        "units_summary_missed": {
            "zh": "{late} 个单位有开幕日未完工的工程，{overdue} 个单位逾期未报",
            "en": "{late} with projects that missed opening day, {overdue} with reports overdue",
        },
        "unit_missed": {"zh": "开幕日未完工 {n}", "en": "{n} missed opening day"},
        # the units table's column title of the count (a zero-width space lets the Chinese wrap after 开幕日:
        # whole, it ran the printed table past A4's width; the English "Missed opening day" took three
        # lines, or with "opening day" kept whole ran the table past it: the page's title says "day")
        "units_missed_head": {"zh": "开幕日\u200b未完工", "en": "Missed opening"},
        # the same over the column of their codes, as "Late projects" and "Overdue projects" beside it (the
        # whole "Missed opening day" took three lines there)
        "units_missed_projects_head": {"zh": "开幕日\u200b未完工", "en": "Missed projects"},
        "brief_more_missed": {
            "zh": "另有 {n} 项；全部开幕日未完工的工程按责任单位列于：{url}",
            "en": "{n} more; every project that missed opening day, by responsible unit: {url}",
        },
    }
)


for _status, (_zh, _en) in _COMPLETION_LABELS.items():
    _LABELS[f"status_{_status}"] = {"zh": _zh, "en": _en}


def other_lang(lang: str) -> str:
    """The language a page's switch offers: the other of the two."""
    return "en" if lang == "zh" else "zh"


def norm_lang(lang: str | None, accept_language: str | None = None) -> str:
    """`lang` when it is one we speak; else the first of Accept-Language we speak; else Chinese."""
    if lang:
        low = lang.strip().lower()
        if low.startswith("zh"):
            return "zh"
        if low.startswith("en"):
            return "en"
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANG


# The message of a commit that also changed layers the reader may not see, as a page says it
# (twin.access withholds it; the API's JSON keeps twin.access.MESSAGE_WITHHELD, in English).
_LABELS.update(
    {
        "message_withheld": {
            "zh": "（提交说明不予显示：此提交还修改了您无权查看的图层）",
            "en": MESSAGE_WITHHELD,
        },
    }
)


def commit_message(lang: str, message: str) -> str:
    """A commit's message as a page shows it: a withheld one (twin.access) in the page's language."""
    return label(lang, "message_withheld") if message == MESSAGE_WITHHELD else message


def label(lang: str, key: str, **values: Any) -> str:
    text = _LABELS[key]["en" if lang == "en" else "zh"]
    return text.format(**values) if values else text


def has_label(key: str) -> bool:
    return key in _LABELS


def survey_kind(lang: str, kind: str) -> str:
    """A single-band survey's kind in words (thermal: "Surface temperature (thermal)"); a kind
    with no words of its own is named by its code, underscores as spaces."""
    key = f"survey_kind_{kind}"
    return label(lang, key) if key in _LABELS else label(lang, "survey_kind_other", kind=kind.replace("_", " "))


# The schemas' units that are English words, in Chinese (symbols such as m, m², ha and % are the same
# in both): a popup writes "9,000 盆" on the Chinese page.
_UNITS_ZH = {"pots": "盆", "trees": "株", "lanes": "车道", "persons": "人"}


def unit_label(lang: str, unit: str | None) -> str | None:
    """A field's unit as written after a value in the page's language."""
    return _UNITS_ZH.get(unit, unit) if lang == "zh" and unit is not None else unit


# Units a table's heading writes in words where the schemas' symbol is no word (the symbols m, m², %
# stay as they are; pots and the like are unit_label's): (en, zh).
_UNIT_HEADINGS = {"deg": ("°", "°"), "B": ("bytes", "字节"), "px": ("px", "像素")}


def unit_heading(lang: str, unit: str) -> str:
    """A field's unit as a column's heading writes it after the title: "Ground sample distance (m)"."""
    if unit in _UNIT_HEADINGS:
        return _UNIT_HEADINGS[unit][0 if lang == "en" else 1]
    return unit_label(lang, unit) or unit


# A survey's band descriptions as its file gives them (GDAL's colour names, or "band N" for a band the
# file left undescribed), in Chinese; another description (ndvi) is the file's own.
_BAND_NAMES_ZH = {
    "red": "红",
    "green": "绿",
    "blue": "蓝",
    "alpha": "透明度",
    "nir": "近红外",
    "rededge": "红边",
    "pan": "全色",
    "lwir": "热红外",
    "tir": "热红外",
}
_BAND_N = re.compile(r"band (\d+)")


def band_name(lang: str, text: str) -> str:
    """A raster band's description in the page's language."""
    if lang == "en":
        return text
    n = _BAND_N.fullmatch(text)
    return f"波段 {n.group(1)}" if n else _BAND_NAMES_ZH.get(text, text)


def labels(lang: str, keys: list[str] | tuple[str, ...] | None = None) -> dict[str, str]:
    """Several labels at once (all of them by default), for the page's script."""
    return {k: label(lang, k) for k in (keys if keys is not None else _LABELS)}


def status_label(lang: str, status: str) -> str:
    return label(lang, f"status_{status}") if f"status_{status}" in _LABELS else status


def layer_title(lang: str, schema: LayerSchema) -> str:
    return schema.title_en if lang == "en" else schema.title_zh


def field_title(lang: str, spec: FieldSpec) -> str:
    title = (spec.title_en if lang == "en" else spec.title_zh) or spec.title_en or spec.name
    return title


def value_label(lang: str, spec: FieldSpec | None, value: Any) -> str | None:
    """What an attribute's value is called in the language (the schema's labels, FieldSpec.labels:
    "花坛" / "Flower bed" for flower_bed); None for a value the schema gives no label, shown as it is."""
    if spec is None or not spec.labels or isinstance(value, list | dict):
        return None
    return spec.label(value, lang)


def field_value_labels(lang: str, spec: FieldSpec) -> dict[str, str]:
    """Every labelled value of a field, keyed by its text (for the page script's popups)."""
    return {str(v): (en if lang == "en" else zh) for v, zh, en in spec.labels or ()}


def feature_name(lang: str, props: dict[str, Any]) -> str:
    """A feature's name in the language, falling back to the other one, then its code."""
    first, second = ("name_en", "name_zh") if lang == "en" else ("name_zh", "name_en")
    for key in (first, second, "name", "code"):
        v = props.get(key)
        if isinstance(v, str) and v.strip():
            return v
    return ""


# A unit or a person as the register's one text for it gives their names (in_language).
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
# a trailing bracketed part, ASCII or full-width: "中文名 (English name)", "黄丽 Huang Li（青浦区绿化局）"
_BRACKETED = re.compile(r"^(?P<base>.*?\S)\s*[(（](?P<note>[^()（）]+)[)）]$", re.S)
# a Chinese half, a space, an English half: "孙浩 Sun Hao", "青浦区绿化局 Qingpu Greening Bureau"
_ZH_EN = re.compile(r"^(?P<zh>.*[\u3400-\u9fff][^\sA-Za-z0-9]*)\s+(?P<en>[A-Za-z][^\u3400-\u9fff]*)$", re.S)


def in_language(lang: str, text: str | None) -> str:
    """The page's half of a bilingual register entry: a responsible unit or person.

    The register keeps one text per unit and per person (no zh/en pair), written as registers write
    them:

    - "中文名 (English name)", "中文名（English name）": a unit and its English name in brackets;
    - "中文 English": both names, a person ("孙浩 Sun Hao") or a unit;
    - "黄丽 Huang Li (Qingpu Greening Bureau)", "黄丽 Huang Li（青浦区绿化局）": a person's two names
      and their unit, which is left out (every page names the unit beside the person: a column, a
      row, "unit · person", the units page's "(unit)"); the bracket is not the English name;
    - one language only ("Huang Li", "黄丽", "国家会展中心（上海）") or anything else: as it is.
    """
    if not text:
        return ""
    t = text.strip()
    base, note = t, None
    if m := _BRACKETED.match(t):
        base, note = m["base"].strip(), m["note"]
    if pair := _ZH_EN.match(base):  # both names, whatever the bracket holds
        return pair["en"].strip() if lang == "en" else pair["zh"].strip()
    chinese_base = _CJK.search(base) and not _LATIN.search(base)
    if note is not None and chinese_base and _LATIN.search(note) and not _CJK.search(note):
        return note.strip() if lang == "en" else base  # 中文名 (English name)
    return t


_HALVES = re.compile(r"^(?P<a>.+?)\s+/\s+(?P<b>.+)$", re.S)  # "English text / 中文"


def description_in(lang: str, text: str | None) -> str:
    """A layer's description in the page's language: the catalogue writes one field as
    "English text / 中文"; anything else is shown as it is."""
    if not text:
        return ""
    m = _HALVES.match(text.strip())
    if m is None:
        return text
    a, b = m["a"].strip(), m["b"].strip()
    if _CJK.search(b) and not _CJK.search(a):
        return b if lang == "zh" else a
    if _CJK.search(a) and not _CJK.search(b):
        return a if lang == "zh" else b
    return text


def unit_name(lang: str, unit: str) -> str:
    """A responsible unit's name in the page's language (see in_language)."""
    return in_language(lang, unit)


# What the imagery measured, in Chinese, by method (completion.evidence.MEASURE_WORDS is the English).
_MEASURE_ZH = {"green_cover": "绿化覆盖", "finished_surface": "完工铺面", "roof_change": "新屋面防水层"}


def _md(d: Any) -> str:
    """A day as a flag names it ("10-06"), "?" without one."""
    return d.strftime("%m-%d") if d else "?"


def _imagery_zh(ev: Evidence) -> str:
    text = f"{ev.flown} 航测影像显示{_MEASURE_ZH[ev.method or 'green_cover']} {ev.measure or 0:.0f}%"
    if ev.estimate_differs:
        text += f"（约合计划覆盖 {ev.planned_share or 0:.0f}% 的 {ev.estimate or 0:.0f}%）"
    return text


def evidence_flag(lang: str, ev: Evidence | None, reported: bool = True) -> str:
    """An imagery flag in the page's language, worded from the evidence's figures, naming the
    report the imagery is set against (the one of the flight's day, completion.evidence.judge): in
    English its message, as the API gives it ("reported 90 % on 10-06, imagery shows 49 % green
    cover on 10-06; 100 % reported since, on 10-16"), in Chinese "10-06 填报 90%，10-06 航测影像显示绿化覆盖
    49%；此后 10-16 填报 100%". Empty for no flag. ``reported=False``: for a row that shows the report
    of the date beside (the briefing's tables), what the imagery showed, and the report it is set
    against only when that is another ("…, against 90 % reported on 10-06")."""
    if ev is None or not ev.flag:
        return ""
    if lang == "en":
        if reported:
            return ev.message or ""
        from completion.evidence import imagery_words

        text = imagery_words(ev)
        if ev.reported_since:
            text += f", against {ev.compared or 0:.0f} % reported on {_md(ev.compared_date)}"
        return text
    text = _imagery_zh(ev)
    if reported:
        text = f"{_md(ev.compared_date)} 填报 {ev.compared or 0:.0f}%，" + text
        if ev.reported_since:
            text += f"；此后 {_md(ev.report_date)} 填报 {ev.reported or 0:.0f}%"
    elif ev.reported_since:
        text += f"，对照 {_md(ev.compared_date)} 填报的 {ev.compared or 0:.0f}%"
    return text


def evidence_older(lang: str, ev: Evidence | None) -> str:
    """A report made since the flight that the imagery cannot check (completion.evidence.judge:
    `imagery_older`, no flag), in the page's language: in English the API's `note` ("reported 100 %
    on 10-16, after the flight: imagery shows 75 % finished surface on 10-06, when 77 % was reported
    (10-06); imagery older than the report: fly again"). Empty for none."""
    if ev is None or not ev.imagery_older:
        return ""
    if lang == "en":
        return ev.note or ""
    text = f"{_md(ev.report_date)} 填报 {ev.reported or 0:.0f}%，晚于航测：" + _imagery_zh(ev)
    if ev.compared is not None:
        text += f"，当时（{_md(ev.compared_date)}）填报 {ev.compared:.0f}%"
    return text + "；影像早于填报，需重新航测核查"


def evidence_measured(lang: str, ev: Evidence) -> str:
    """What the imagery measured, in the page's language ("49 % green cover", "绿化覆盖 49%"), with
    the share of the footprint the project plans to cover when the estimate differs from it; empty
    without a measure."""
    if ev.measure is None:
        return ""
    if lang == "en":
        from completion.evidence import MEASURE_WORDS

        text = f"{ev.measure:.0f} % {MEASURE_WORDS[ev.method or 'green_cover']}"
    else:
        text = f"{_MEASURE_ZH[ev.method or 'green_cover']} {ev.measure:.0f}%"
    if ev.estimate_differs:
        text += label(lang, "evidence_measured_planned", planned=f"{ev.planned_share or 0:.0f}")
    return text


def fmt_days(days: float) -> str:
    """Whole days, half up, as the popups round them (the late list and the briefing alike:
    "16" beside "39.6" read as two kinds of figure)."""
    return f"{math.floor(days + 0.5):.0f}"


def percent_figure(percent: float | None, digits: int = 0) -> str:
    """A percent's figure without its sign, as ``percent_round`` rounds it: 99.84 -> "99.8" with one
    place, 99.96 -> "99.9"; None -> "–"."""
    if percent is None:
        return "–"
    return f"{percent_round(percent, digits):.{digits}f}"


def fmt_percent(percent: float | None, digits: int = 0) -> str:
    """62.5 -> "63%" (percent values, as the completion module gives them), half up as the page
    script's VT.pct; 99.8 -> "99%" and 0.2 -> "1%" (``percent_round``); None -> "–"."""
    if percent is None:
        return "–"
    return f"{percent_figure(percent, digits)}%"


def fmt_number(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
