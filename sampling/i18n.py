"""Labels of natplan's human-facing documents in Chinese (default) and English.

One dict per language with the same keys (a test checks it). Templates use ``str.format``
fields (``{name}``); values are escaped by the renderer, never here. Point kinds and reason
codes from the planner (``capacity``, ``no point within 15 min``…) are translated by
:func:`kind_label` and :func:`reason_label`; unknown values are shown as they are.
"""

from __future__ import annotations

import re

LANGS = ("zh", "en")

REASON_NO_WALK_IN = "no walk-in residents"
"""Assignment reason of a building whose residents are all visited at home (nothing to escalate)."""

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        # page frame
        "subtitle": "{scenario} · {date} · 采样时段 {window}",
        "footer": "由 natplan 生成。计划值为预计值，以现场指挥部安排为准。",
        "index_title": "{scenario} 核酸采样工作文件",
        "point_heading": "采样点作业单：{name}",
        "grid_heading": "网格通知名单：{name}",
        "team_heading": "上门采样路线单：{name}",
        "sign_leader": "点位负责人签字：",
        "sign_team": "队长签字：",
        "sign_date": "日期/时间：",
        "yes": "是",
        "no": "否",
        "total": "合计",
        # index
        "files": "文件",
        "link_map": "覆盖地图（离线）",
        "link_summary": "指标 summary.json",
        "link_xlsx": "全部表格 plan.xlsx",
        "index_points": "采样点作业单",
        "index_grids": "网格通知名单",
        "index_teams": "上门采样路线单",
        "kpi_residents": "应采样人数",
        "kpi_coverage": "覆盖率",
        "kpi_unserved": "未分配居民",
        "kpi_points": "开放采样点",
        "kpi_tables": "使用采样台",
        "kpi_finish": "预计完成",
        "kpi_finish_bound": "完成时间下限",
        "kpi_sim_finish": "模拟完成",
        "kpi_p95": "最长 P95 等候（分钟）",
        "kpi_staffing": "人员保障",
        "kpi_households": "上门采样户（已排/总数）",
        "kpi_latest_return": "上门队最晚返回",
        "hv_unserved_index": "有 {n} 户上门采样无法安排，见各网格名单的“需上报”部分。",
        "csv": "CSV",
        "hours": "工作时间",
        "tables_open": "采样台",
        "sim_p95": "模拟 P95 等候（分钟）",
        # point page
        "key_figures": "基本情况",
        "kind": "类型",
        "location": "位置（坐标）",
        "tables": "采样台（开设/可设）",
        "residents_assigned": "分配居民",
        "capacity_window": "时段内产能",
        "utilisation": "负荷率",
        "expected_start": "预计开始",
        "expected_finish": "预计结束",
        "finish_lower_bound": "结束时间下限（按产能）",
        "sim_finish": "模拟结束",
        "staff": "采样人员（人次）",
        "yellow_channel": "黄码专用通道",
        "peak_queue": "排队峰值（计划/模拟）",
        "max_wait_planned": "计划最长等候（分钟）",
        "sim_wait": "模拟等候 P50/P95（分钟）",
        "facts_note": (
            "“结束时间下限”是按采样台产能最快可能完成的时间；计划值按每台每小时"
            "采样速度计算，模拟值含迟到与采样用时波动。"
        ),
        "over_capacity_warn": "注意：按到岗人员计算，本点居民在采样时段内排不完，需增派人员或延长时间。",
        "not_called_warn": "注意：本点有 {n} 名居民在时段内无法安排呼叫，已列入网格名单上报。",
        "supplies": "物资需求",
        "item": "物资",
        "need": "需求",
        "spare": "备用（{pct}）",
        "rule": "计算方法",
        "swabs": "采样拭子",
        "tubes": "采样管",
        "suits": "防护服",
        "registrars": "登记员（人·班）",
        "rule_swabs": "每人 1 支：普通 {regular} 人 + 黄码 {yellow} 人",
        "rule_tubes": ("⌈普通 {regular} ÷ {pool}⌉ = {tr} 管 + ⌈黄码 {yellow} ÷ {ypool}⌉ = {ty} 管"),
        "rule_suits": "每名采样人员每班 1 套，共 {n} 人·班",
        "rule_registrars": "每个采样台每班 1 名（志愿者或社区工作人员）",
        "supplies_note_pool": (
            "混采：普通居民 {pool} 人一管，黄码居民 {ypool} 人一管；普通与黄码不混装，"
            "每类最后一管可能不满。"
        ),
        "supplies_note_spare": "备用量按需求的 {pct} 向上取整。",
        "supplies_note_heat": (
            "防护服按每班更换一次计算；高温天气每小时轮换时需相应增加。登记员防护用品按当地规定另配。"
        ),
        "roster": "人员排班",
        "shift": "班次",
        "team": "医疗队",
        "samplers": "采样人员（台）",
        "registrars_needed": "需登记员",
        "roster_note": "每名采样人员负责一个采样台；请提前 30 分钟到岗穿戴防护用品。",
        "no_shifts": "本点暂无排班。",
        "shortfall": "人员缺口",
        "time": "时间",
        "missing_samplers": "缺少采样人员",
        "extra_samplers": "建议增派采样人员",
        "shortfall_note": "以上时段采样台无人值守，请指挥部增派人员。",
        "timetable": "分楼栋分时段呼叫表",
        "slot": "时段",
        "building": "楼栋",
        "grid": "网格",
        "residents": "人数",
        "call_kind": "类别",
        "call_regular": "普通",
        "call_yellow": "★ 黄码",
        "channel_yellow": "黄码通道",
        "calls_n": "{n} 次呼叫",
        "no_calls": "本点没有呼叫安排。",
        "timetable_note": (
            "网格员按时段通知楼栋居民下楼；大楼栋可能分几个时段呼叫。黄色底纹为黄码居民，须与其他人员分开。"
        ),
        "yellow_channel_note": "本点设黄码专用通道：黄码居民走专用采样台，单人单管。",
        # grid page
        "leader": "网格长",
        "buildings": "楼栋数",
        "walk_in": "到点采样人数",
        "residents_called": "呼叫人数（普通）",
        "yellow_called": "黄码人数",
        "to_escalate": "需上报",
        "hv_households": "上门采样户数",
        "hv_persons": "上门采样人数",
        "escalate_title": "需上报指挥部",
        "escalate_note": (
            "这些楼栋或住户在计划中无法安排采样，请网格长立即上报，并安排补采（查缺补漏）。"
        ),
        "grid_points": "本网格使用的采样点",
        "point": "采样点",
        "call_list": "呼叫名单",
        "hv_short": "上门采样",
        "hv_cell": "{h}户/{p}人",
        "status": "状态",
        "call_list_note": (
            "按呼叫时段顺序：先在楼栋群发通知，再用喇叭到楼下呼叫，未下楼者逐户敲门。"
            "一个楼栋分几个时段时，括号内为该时段人数。"
        ),
        "yellow_note_grid": "黄码居民只在黄码时段（或黄码通道）采样，不得与其他居民混排。",
        "hv_title": "上门采样住户",
        "household": "住户",
        "persons": "人数",
        "expected_time": "预计时间",
        "visit_window": "可上门时段",
        "note": "备注",
        "hv_note": "请提前告知住户上门时间；红色底纹的住户无法安排，需上报。",
        "persons_unit": "人",
        "status_unserved": "未分配",
        "status_home_only": "全部上门采样",
        "status_not_called": "未安排呼叫",
        "status_beyond": "超出步行范围",
        "status_hv_unserved": "上门采样未安排",
        "col_building_id": "楼栋编号",
        "col_building_name": "楼栋名称",
        "col_compound": "小区",
        "col_point_id": "采样点编号",
        "col_point_name": "采样点",
        "col_call_times": "呼叫时段",
        "col_residents_called": "呼叫人数（普通）",
        "col_yellow_call_times": "黄码呼叫时段",
        "col_yellow_called": "黄码人数",
        "col_walk_in": "到点采样人数",
        "col_hv_households": "上门采样户数",
        "col_hv_persons": "上门采样人数",
        "col_hv_detail": "上门采样安排",
        "col_status": "状态",
        "col_escalate": "需上报",
        # team page
        "team_start": "出发",
        "team_end": "返回",
        "households": "户数",
        "walk_distance": "步行距离",
        "walk_distance_m": "步行距离（米）",
        "team_supplies": (
            "携带物资：拭子 {swabs} 支（{persons} 人 + {pct} 备用）；采样管 {tubes} 个（每户单独一管）；"
            "防护服 {suits} 套（2 人，每户更换）。"
        ),
        "team_note": "按顺序上门；到达前电话联系住户。时间为预计值，遇电梯停用等情况请及时报告。",
        "itinerary": "上门顺序",
        "seq": "序号",
        "address": "地址",
        "arrive": "到达",
        "visit": "采样",
        "no_stops": "本队没有上门任务。",
    },
    "en": {
        "subtitle": "{scenario} · {date} · sampling window {window}",
        "footer": "Generated by natplan. Planned figures are estimates; on-site HQ decides.",
        "index_title": "{scenario}: PCR sampling documents",
        "point_heading": "Sampling point sheet: {name}",
        "grid_heading": "Grid call list: {name}",
        "team_heading": "Home-visit itinerary: {name}",
        "sign_leader": "Point leader signature:",
        "sign_team": "Team leader signature:",
        "sign_date": "Date/time:",
        "yes": "yes",
        "no": "no",
        "total": "Total",
        "files": "Files",
        "link_map": "Coverage map (offline)",
        "link_summary": "KPIs summary.json",
        "link_xlsx": "All tables plan.xlsx",
        "index_points": "Sampling point sheets",
        "index_grids": "Grid call lists",
        "index_teams": "Home-visit itineraries",
        "kpi_residents": "Residents to sample",
        "kpi_coverage": "Coverage",
        "kpi_unserved": "Unassigned residents",
        "kpi_points": "Open points",
        "kpi_tables": "Tables used",
        "kpi_finish": "Expected finish",
        "kpi_finish_bound": "Finish lower bound",
        "kpi_sim_finish": "Simulated finish",
        "kpi_p95": "Worst p95 wait (min)",
        "kpi_staffing": "Staffing",
        "kpi_households": "Home-visit households (planned/total)",
        "kpi_latest_return": "Latest team return",
        "hv_unserved_index": (
            "{n} home-visit households could not be scheduled: see “Escalate” in the grid lists."
        ),
        "csv": "CSV",
        "hours": "Hours",
        "tables_open": "Tables",
        "sim_p95": "Simulated p95 wait (min)",
        "key_figures": "Key figures",
        "kind": "Kind",
        "location": "Location (coordinates)",
        "tables": "Tables (open/max)",
        "residents_assigned": "Residents assigned",
        "capacity_window": "Capacity in window",
        "utilisation": "Utilisation",
        "expected_start": "Expected start",
        "expected_finish": "Expected finish",
        "finish_lower_bound": "Finish lower bound (capacity)",
        "sim_finish": "Simulated finish",
        "staff": "Sampler shifts",
        "yellow_channel": "Yellow-code channel",
        "peak_queue": "Peak queue (planned/simulated)",
        "max_wait_planned": "Planned longest wait (min)",
        "sim_wait": "Simulated wait p50/p95 (min)",
        "facts_note": (
            "The finish lower bound is the earliest the tables could finish at full rate; planned "
            "figures use the swab rate per table, simulated ones include late arrivals and "
            "variable swab times."
        ),
        "over_capacity_warn": (
            "Warning: with the staff on duty, this point's residents do not fit in the window; "
            "add staff or extend the hours."
        ),
        "not_called_warn": (
            "Warning: {n} residents of this point found no call slot in the window; they are on "
            "the grid lists to escalate."
        ),
        "supplies": "Supplies",
        "item": "Item",
        "need": "Need",
        "spare": "Spare ({pct})",
        "rule": "Rule",
        "swabs": "Swabs",
        "tubes": "Tubes",
        "suits": "Protective suits",
        "registrars": "Registrars (person-shifts)",
        "rule_swabs": "1 per person: {regular} regular + {yellow} yellow-code",
        "rule_tubes": (
            "⌈{regular} regular ÷ {pool}⌉ = {tr} + ⌈{yellow} yellow-code ÷ {ypool}⌉ = {ty}"
        ),
        "rule_suits": "1 per sampler per shift: {n} sampler-shifts",
        "rule_registrars": "1 per table per shift (volunteers or community workers)",
        "supplies_note_pool": (
            "Pooling: {pool} regular swabs per tube, {ypool} yellow-code swabs per tube; regular "
            "and yellow-code swabs never share a tube, and the last tube of each may be part-filled."
        ),
        "supplies_note_spare": "Spares are {pct} of the need, rounded up.",
        "supplies_note_heat": (
            "Suits assume one change per shift; hourly rotation in heat needs more. Registrars' "
            "protective gear follows local rules and is not counted here."
        ),
        "roster": "Staff roster",
        "shift": "Shift",
        "team": "Team",
        "samplers": "Samplers (tables)",
        "registrars_needed": "Registrars needed",
        "roster_note": "One sampler per table; arrive 30 minutes early to put on protective gear.",
        "no_shifts": "No shifts at this point.",
        "shortfall": "Staffing shortfall",
        "time": "Time",
        "missing_samplers": "Samplers missing",
        "extra_samplers": "Extra samplers suggested",
        "shortfall_note": "Tables are unstaffed in these periods: HQ must send more samplers.",
        "timetable": "Call timetable (by building and slot)",
        "slot": "Slot",
        "building": "Building",
        "grid": "Grid",
        "residents": "Residents",
        "call_kind": "Kind",
        "call_regular": "regular",
        "call_yellow": "★ yellow code",
        "channel_yellow": "yellow channel",
        "calls_n": "{n} calls",
        "no_calls": "No calls at this point.",
        "timetable_note": (
            "Grid staff call each building down in its slot; a large building may be called over "
            "several slots. Highlighted rows are yellow-code residents, kept apart from others."
        ),
        "yellow_channel_note": (
            "This point has a yellow-code channel: yellow-code residents use its dedicated table, "
            "one per tube."
        ),
        "leader": "Grid leader",
        "buildings": "Buildings",
        "walk_in": "Walk-in residents",
        "residents_called": "Residents called (regular)",
        "yellow_called": "Yellow-code residents",
        "to_escalate": "To escalate",
        "hv_households": "Home-visit households",
        "hv_persons": "Home-visit persons",
        "escalate_title": "Escalate to HQ",
        "escalate_note": (
            "The plan could not schedule these buildings or households: report them to HQ at once "
            "and arrange catch-up sampling."
        ),
        "grid_points": "Sampling points used by this grid",
        "point": "Point",
        "call_list": "Call list",
        "hv_short": "Home visits",
        "hv_cell": "{h} hh / {p} p",
        "status": "Status",
        "call_list_note": (
            "In call order: message the building group first, then call at the door by "
            "loudhailer, then knock on doors of those who did not come. For a building called over "
            "several slots, the residents of each slot are in brackets."
        ),
        "yellow_note_grid": (
            "Yellow-code residents are sampled only in their yellow-code slot or channel, never "
            "mixed with others."
        ),
        "hv_title": "Home-visit households",
        "household": "Household",
        "persons": "Persons",
        "expected_time": "Expected time",
        "visit_window": "Visit window",
        "note": "Note",
        "hv_note": (
            "Tell households their visit time in advance; highlighted households could not be "
            "scheduled and must be escalated."
        ),
        "persons_unit": " p",
        "status_unserved": "unassigned",
        "status_home_only": "all visited at home",
        "status_not_called": "not called",
        "status_beyond": "beyond walking limit",
        "status_hv_unserved": "home visit not scheduled",
        "col_building_id": "Building ID",
        "col_building_name": "Building",
        "col_compound": "Compound",
        "col_point_id": "Point ID",
        "col_point_name": "Point",
        "col_call_times": "Call slot(s)",
        "col_residents_called": "Residents called (regular)",
        "col_yellow_call_times": "Yellow-code slot(s)",
        "col_yellow_called": "Yellow-code residents",
        "col_walk_in": "Walk-in residents",
        "col_hv_households": "Home-visit households",
        "col_hv_persons": "Home-visit persons",
        "col_hv_detail": "Home visits",
        "col_status": "Status",
        "col_escalate": "Escalate",
        "team_start": "Start",
        "team_end": "Return",
        "households": "Households",
        "walk_distance": "Walking distance",
        "walk_distance_m": "Walking distance (m)",
        "team_supplies": (
            "Carry: {swabs} swabs ({persons} persons + {pct} spare); {tubes} tubes (one per "
            "household); {suits} protective suits (2 people, changed at every household)."
        ),
        "team_note": (
            "Visit in this order; phone the household before arriving. Times are estimates: report "
            "lifts out of service or other delays."
        ),
        "itinerary": "Visiting order",
        "seq": "No.",
        "address": "Address",
        "arrive": "Arrive",
        "visit": "Visit",
        "no_stops": "No households for this team.",
    },
}

KINDS: dict[str, dict[str, str]] = {
    "zh": {
        "school": "学校操场",
        "campus": "校园",
        "playground": "活动场",
        "square": "广场",
        "park": "公园",
        "pitch": "运动场",
        "parking": "停车场",
        "community_centre": "社区服务中心",
        "green": "绿地",
    },
    "en": {
        "school": "school ground",
        "campus": "campus",
        "playground": "playground",
        "square": "square",
        "park": "park",
        "pitch": "sports ground",
        "parking": "car park",
        "community_centre": "community centre",
        "green": "green",
    },
}

REASONS: dict[str, dict[str, str]] = {
    "zh": {
        "capacity": "采样点容量不足",
        REASON_NO_WALK_IN: "无到点采样居民（全部上门）",
        "yellow slot": "黄码时段已满",
        "no team available in its window": "可上门时段内无可用上门队",
        "out of reach": "上门队无法到达",
        "over capacity": "上门队任务已满",
        "no point within {limit} min": "{limit} 分钟步行范围内无采样点",
    },
    "en": {
        "capacity": "no point has room",
        REASON_NO_WALK_IN: "no walk-in residents (all visited at home)",
        "yellow slot": "no yellow-code slot left",
        "no team available in its window": "no team available in its window",
        "out of reach": "no team can reach it",
        "over capacity": "teams are full",
        "no point within {limit} min": "no point within {limit} min walk",
    },
}

STATUSES: dict[str, dict[str, str]] = {
    "zh": {"covered": "已全部保障", "shortfall": "有缺口"},
    "en": {"covered": "all tables covered", "shortfall": "shortfall"},
}

_WITHIN = re.compile(r"^no point within (?P<limit>[0-9.]+) min$")


def _check(lang: str) -> None:
    if lang not in LABELS:
        raise ValueError(f"unsupported lang {lang!r}; use one of {', '.join(LANGS)}")


def labels(lang: str) -> dict[str, str]:
    """Document labels for ``lang`` (``"zh"`` or ``"en"``); a copy, safe to change."""
    _check(lang)
    return dict(LABELS[lang])


def kind_label(kind: object, lang: str) -> str:
    """A point ``kind`` in ``lang``; unknown kinds as they are, missing as empty."""
    _check(lang)
    if kind is None:
        return ""
    return KINDS[lang].get(str(kind), str(kind))


def status_label(status: object, lang: str) -> str:
    """A status code (``covered``, ``shortfall``) in ``lang`` (unknown: as it is)."""
    _check(lang)
    if status is None:
        return ""
    return STATUSES[lang].get(str(status), str(status))


def reason_label(reason: object, lang: str) -> str:
    """An ``unserved_reason``/``not_called`` reason code in ``lang`` (unknown: as it is)."""
    _check(lang)
    if reason is None:
        return ""
    text = str(reason)
    table = REASONS[lang]
    if text in table:
        return table[text]
    match = _WITHIN.match(text)
    if match:
        return table["no point within {limit} min"].format(limit=match["limit"])
    return text
