"""Map labels in Chinese (default) and English, and KPI formatting."""

from __future__ import annotations

__all__ = ["KPI_LABELS", "LANGS", "format_kpi", "labels"]

LANGS = ("zh", "en")

_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "points": "采样点",
        "closed": "未启用候选点",
        "buildings": "楼栋",
        "unserved": "未覆盖楼栋",
        "catchments": "服务范围",
        "walk": "步行圈",
        "grids": "网格",
        "routes": "上门采样路线",
        "heat": "人口密度",
        "legend": "图例",
        "kpis": "关键指标",
        "name": "名称",
        "point": "采样点",
        "building": "楼栋",
        "grid": "网格",
        "residents": "居民",
        "tables": "采样台",
        "capacity": "容量",
        "load": "负荷",
        "utilisation": "利用率",
        "finish": "完成时间",
        "staff": "人员",
        "yellow": "黄码通道",
        "yes": "是",
        "no": "否",
        "walk_m": "步行距离",
        "metres": "米",
        "reason": "原因",
        "unserved_default": "未分配采样点",
        "team": "队伍",
        "stop": "站",
        "origin": "出发点",
        "household": "户",
        "size_note": "圆点大小 = 采样台数",
        "building_note": "楼栋颜色 = 所属采样点",
        "by_util": "采样点颜色 = 利用率",
        "by_finish": "采样点颜色 = 完成时间",
        "late": "晚于",
        "on_time": "提前1小时以上",
        "tight": "1小时以内",
        "overload": "超负荷",
        "closed_legend": "未启用候选点",
    },
    "en": {
        "points": "Sampling points",
        "closed": "Unused candidate points",
        "buildings": "Buildings",
        "unserved": "Unserved buildings",
        "catchments": "Catchments",
        "walk": "Walking limit",
        "grids": "Grids",
        "routes": "Home-visit routes",
        "heat": "Resident density",
        "legend": "Legend",
        "kpis": "Key figures",
        "name": "Name",
        "point": "Point",
        "building": "Building",
        "grid": "Grid",
        "residents": "Residents",
        "tables": "Tables",
        "capacity": "Capacity",
        "load": "Load",
        "utilisation": "Utilisation",
        "finish": "Finish",
        "staff": "Staff",
        "yellow": "Yellow-code channel",
        "yes": "yes",
        "no": "no",
        "walk_m": "Walk",
        "metres": "m",
        "reason": "Reason",
        "unserved_default": "no sampling point assigned",
        "team": "Team",
        "stop": "stop",
        "origin": "origin",
        "household": "Household",
        "size_note": "marker size = tables",
        "building_note": "building colour = its sampling point",
        "by_util": "point colour = utilisation",
        "by_finish": "point colour = finish time",
        "late": "after",
        "on_time": "≥ 1 h early",
        "tight": "within 1 h",
        "overload": "overloaded",
        "closed_legend": "unused candidate",
    },
}

# Known KPI keys -> (zh, en) label. Other keys are shown verbatim.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "coverage": ("覆盖率", "Coverage"),
    "residents": ("居民总数", "Residents"),
    "residents_covered": ("已覆盖居民", "Residents covered"),
    "residents_served": ("已覆盖居民", "Residents covered"),
    "unserved": ("未覆盖居民", "Unserved residents"),
    "unserved_residents": ("未覆盖居民", "Unserved residents"),
    "unserved_buildings": ("未覆盖楼栋", "Unserved buildings"),
    "buildings": ("楼栋数", "Buildings"),
    "points_open": ("开放采样点", "Open points"),
    "points_candidate": ("候选采样点", "Candidate points"),
    "tables": ("采样台", "Sampling tables"),
    "staff": ("采样人员", "Staff"),
    "finish": ("预计完成时间", "Finish time"),
    "finish_time": ("预计完成时间", "Finish time"),
    "mean_walk_m": ("平均步行距离(米)", "Mean walk (m)"),
    "max_walk_m": ("最大步行距离(米)", "Max walk (m)"),
    "home_visits": ("上门采样户数", "Home-visit households"),
    "teams": ("上门采样队", "Home-visit teams"),
    "routes": ("上门采样路线", "Home-visit routes"),
    "gap": ("最优性差距", "Optimality gap"),
}

_PERCENT_KEYS = frozenset({"coverage", "gap"})


def labels(lang: str) -> dict[str, str]:
    """UI labels for ``lang`` ("zh" or "en")."""
    if lang not in _LABELS:
        raise ValueError(f"unsupported lang {lang!r}; use one of {', '.join(LANGS)}")
    return dict(_LABELS[lang])


def format_kpi(key: str, value: float | int | str, lang: str) -> tuple[str, str]:
    """(label, formatted value) of one KPI."""
    pair = KPI_LABELS.get(key)
    label = key if pair is None else pair[0 if lang == "zh" else 1]
    if isinstance(value, (bool, str)):
        return label, str(value)
    if key in _PERCENT_KEYS and isinstance(value, float) and abs(value) <= 1.5:
        return label, f"{value * 100:.1f}%"
    if isinstance(value, int):
        return label, f"{value:,}"
    return label, f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
