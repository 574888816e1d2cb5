"""Synthetic districts for testing and demonstration, and the ``yuci-street`` example.

:func:`generate_district` writes a realistic but entirely synthetic district around Yuci,
Jinzhong (≈ 37.70 N, 112.74 E) as a scenario folder. Everything is drawn from
``numpy.random.default_rng(seed)`` with vectorised numpy/polars code, so the same
``(residents, seed)`` gives byte-identical files and a 1,000,000-resident district takes a
second or two. The numbers follow ``shared/domain.md``:

* buildings in compounds (小区) of 5–60 buildings: walk-ups (5–7 floors, 40–120 residents),
  high-rises (18–33 floors, 200–700 residents) and low-rise / shanty areas (1–3-storey houses);
  about 100 residents per building; a compact city ≈ 11 km across per million residents, denser
  in the centre, plus a few small fringe hamlets that no point reaches within 15 minutes;
* grids (网格) of a few hundred households (2.8 persons per household) inside compounds;
* candidate points about one per 1,000–1,300 residents (twice the 2,000–3,000 norm, so the
  planner has a choice), 4–10 tables each, a few required and a few closed, with
  ``max_open_points`` ≈ residents / 2,500;
* medical teams of 8–40 samplers from counties 15–60 km away, ≈ residents / 360 samplers
  with 5–15 % slack (or exactly ``staff_ratio`` × residents / 360, see
  :func:`samplers_needed`), a morning shift on site before 07:00 and a relief shift arriving
  08:00–10:30, leaving 14:00–20:00;
* yellow code ≈ 0.5 % of residents (most in a few buildings), elderly ≈ 15 % (one compound
  mostly elderly), home visits for ≈ 2 % of households with one two-person home-visit team
  per ≈ 35 of them.

:func:`write_yuci_street` rebuilds ``scenarios/yuci-street`` (one sub-district modelled on the
April 2022 Yuci report).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from sampling.clock import clock_expr
from sampling.files.atomic import atomic_dir
from sampling.files.ownership import check_output_folder
from sampling.scenario.model import project, unproject
from sampling.scenario.norms import RESIDENTS_PER_SAMPLER

Format = Literal["csv", "parquet"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

CENTRE_LAT = 37.700
"""Latitude of the synthetic district's centre (Yuci, Jinzhong)."""
CENTRE_LON = 112.740
"""Longitude of the synthetic district's centre."""
DATE = "2022-04-28"
PERSONS_PER_HOUSEHOLD = 2.8
REACH_M = 15.0 * 75.0 / 1.3
"""Straight-line reach of the default 15-minute walk (1,125 m street ÷ 1.3 ≈ 865 m)."""

WALKUP, HIGHRISE, LOWRISE = 0, 1, 2
_CELL_M = 420.0  # one compound per lattice cell; the gaps are streets, shops, schools, parks

# Origin counties of medical teams: approximate seat coordinates, 15–60 km from Yuci.
COUNTIES: tuple[tuple[str, float, float, float], ...] = (
    # name, lat, lon, relative weight
    ("太谷区", 37.421, 112.551, 3.0),
    ("祁县", 37.358, 112.335, 2.0),
    ("寿阳县", 37.895, 113.176, 2.0),
    ("清徐县", 37.607, 112.358, 2.0),
    ("小店区", 37.736, 112.565, 2.5),
    ("晋源区", 37.715, 112.478, 1.5),
    ("迎泽区", 37.863, 112.563, 1.5),
    ("尖草坪区", 37.940, 112.487, 1.0),
    ("阳曲县", 38.059, 112.673, 1.0),
    ("交城县", 37.552, 112.156, 1.0),
)

_SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
)
_GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志文斌辉海燕鹏晓春梅"
    "雪琳丹宁博宇浩然欣怡佳俊凯旭东亮云飞翠珍淑凤荣瑞婷瑶"
)
_PREFIX_TEXT = (
    "锦绣阳光幸福和平安宁朝阳紫金翠湖新华盛世金桥福瑞龙湖丽景怡和康乐世纪东方御景汇通振兴迎宾"
    "顺城蕴华榆园文苑凤鸣泰和长青瑞祥嘉禾华庭春晖兴隆永安天成鸿福恒泰明珠建设光明胜利新建东升"
    "西苑南湖北辰锦江广源聚贤益民安泰和顺金域碧桂融创万科富力学府书香"
)
_PREFIXES = tuple(_PREFIX_TEXT[i : i + 2] for i in range(0, len(_PREFIX_TEXT), 2))
_SUFFIXES: dict[int, tuple[str, ...]] = {
    WALKUP: ("小区", "家属院", "宿舍", "苑", "新村"),
    HIGHRISE: ("花园", "华府", "公馆", "名都", "城"),
    LOWRISE: ("村", "片区", "棚户区"),
}
_POINT_KINDS: tuple[tuple[str, str, float], ...] = (
    ("playground", "活动场", 0.30),
    ("square", "广场", 0.22),
    ("school", "小学操场", 0.15),
    ("park", "公园", 0.10),
    ("parking", "停车场", 0.13),
    ("community_centre", "社区服务中心", 0.10),
)
_NOTES: tuple[tuple[str, float], ...] = (
    ("卧床", 0.30),
    ("行动不便", 0.30),
    ("高龄独居", 0.20),
    ("残疾", 0.10),
    ("居家隔离", 0.05),
    ("术后康复", 0.05),
)
_VISIT_WINDOWS: tuple[tuple[int, int], ...] = (
    (8 * 60, 10 * 60),
    (9 * 60, 11 * 60),
    (10 * 60, 12 * 60),
    (14 * 60, 16 * 60),
    (15 * 60, 17 * 60),
)


@dataclass(frozen=True, slots=True)
class GenerateSummary:
    """What a generated scenario folder holds (counts only; deterministic for a seed)."""

    out_dir: Path
    name: str
    fmt: str
    residents: int
    buildings: int
    compounds: int
    grids: int
    points: int
    points_required: int
    points_closed: int
    max_open_points: int
    tables_max: int
    teams: int
    samplers: int
    home_visit_teams: int
    home_visit_households: int
    home_visit_persons: int
    yellow_code: int
    elderly: int
    unreachable_buildings: int
    unreachable_residents: int

    def __str__(self) -> str:
        return "\n".join(
            [
                f"wrote {self.out_dir} ({self.name}, {self.fmt})",
                f"  residents {self.residents:,} in {self.buildings:,} buildings,"
                f" {self.compounds:,} compounds, {self.grids:,} grids",
                f"  yellow code {self.yellow_code:,}, elderly {self.elderly:,}",
                f"  points {self.points:,} ({self.points_required} required,"
                f" {self.points_closed} closed), up to {self.tables_max:,} tables,"
                f" max_open_points {self.max_open_points:,}",
                f"  teams {self.teams:,} with {self.samplers:,} samplers;"
                f" home-visit teams {self.home_visit_teams:,}",
                f"  home visits {self.home_visit_households:,} households,"
                f" {self.home_visit_persons:,} persons",
                f"  out of 15-min reach of an open point: {self.unreachable_buildings:,}"
                f" buildings, {self.unreachable_residents:,} residents",
            ]
        )


@dataclass(frozen=True)
class District:
    """A synthetic scenario in memory: header fields plus the five tables (WGS-84)."""

    name: str
    description: str
    attribution: str
    max_open_points: int
    buildings: pl.DataFrame
    points: pl.DataFrame
    teams: pl.DataFrame
    home_visits: pl.DataFrame
    grids: pl.DataFrame
    labs: pl.DataFrame | None = None  # tubes to the labs (issue 16)
    vehicles: pl.DataFrame | None = None


# --------------------------------------------------------------------------- small helpers


def _ids(prefix: str, n: int, width: int = 4) -> pl.Series:
    """``prefix`` + 1-based zero-padded numbers, e.g. ``B00001``."""
    width = max(width, len(str(n)))
    numbers = pl.Series(np.arange(1, n + 1, dtype=np.int64)).cast(pl.String).str.zfill(width)
    return (prefix + numbers).alias("id")


def _person_names(rng: np.random.Generator, n: int) -> NDArray[np.str_]:
    """Placeholder Chinese names: surname + one or two given-name characters."""
    surnames = np.asarray(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)]
    first = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    second = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    second = np.where(rng.random(n) < 0.7, second, "")
    return np.char.add(np.char.add(surnames, first), second)


def _unique_names(names: pl.Series) -> pl.Series:
    """Make names unique by appending 二期, 三期 … (or 12期) to repeats, in order."""
    frame = pl.DataFrame({"name": names}).with_columns(
        pl.int_range(pl.len()).over("name").alias("k")
    )
    numerals = list("一二三四五六七八九十")
    phase = (
        pl.when(pl.col("k") < 10)
        .then(pl.col("k").replace_strict(list(range(10)), numerals, default=""))
        .otherwise((pl.col("k") + 1).cast(pl.String))
    )
    return frame.select(
        pl.when(pl.col("k") == 0)
        .then(pl.col("name"))
        .otherwise(pl.concat_str(pl.col("name"), phase, pl.lit("期")))
        .alias("name")
    ).to_series()


def _largest_remainder(total: int, weights: FloatArray) -> IntArray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    quota = weights / weights.sum() * total
    base: IntArray = np.floor(quota).astype(np.int64)
    left = int(total - base.sum())
    if left:
        order = np.argsort(-(quota - base), kind="stable")
        base[order[:left]] += 1
    return base


def _households(residents: IntArray) -> IntArray:
    """Households per building at 2.8 persons each (at least one in an occupied building)."""
    hh = np.rint(residents / PERSONS_PER_HOUSEHOLD).astype(np.int64)
    out: IntArray = np.where(residents > 0, np.maximum(hh, 1), 0).astype(np.int64)
    return out


# --------------------------------------------------------------------------- buildings


def _building_residents(rng: np.random.Generator, kind: IntArray) -> IntArray:
    """Residents per building from its kind (floors × households per floor × occupancy)."""
    n = len(kind)
    occupancy = rng.uniform(0.7, 1.0, n)
    walk_floors = rng.integers(5, 8, n)
    walk_units = rng.integers(2, 5, n)
    walkup = np.clip(
        np.rint(walk_floors * walk_units * 2 * PERSONS_PER_HOUSEHOLD * occupancy), 40, 120
    )
    high_floors = rng.integers(18, 34, n)
    per_floor = rng.choice(np.array([4, 6, 8]), n, p=[0.4, 0.4, 0.2])
    high = np.clip(
        np.rint(high_floors * per_floor * PERSONS_PER_HOUSEHOLD * rng.uniform(0.6, 0.95, n)),
        200,
        700,
    )
    storeys = rng.choice(np.array([1, 2, 3]), n, p=[0.5, 0.35, 0.15])
    low = np.maximum(np.rint(storeys * rng.uniform(2.0, 6.0, n)), 2)
    out = np.where(kind == WALKUP, walkup, np.where(kind == HIGHRISE, high, low))
    return out.astype(np.int64)


def _layout(
    rng: np.random.Generator,
    centre_x: FloatArray,
    centre_y: FloatArray,
    kind: IntArray,
    n_buildings: IntArray,
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Place each compound's buildings in rotated, jittered rows around its centre.

    Returns building x, y, compound index and 0-based index within the compound.
    """
    c = len(kind)
    spacing = np.select(
        [kind == WALKUP, kind == HIGHRISE],
        [rng.uniform(30, 38, c), rng.uniform(48, 60, c)],
        rng.uniform(13, 18, c),
    )
    cols = np.ceil(np.sqrt(n_buildings * rng.uniform(0.7, 1.4, c))).astype(np.int64)
    cols = np.clip(cols, 1, None)
    rows = np.ceil(n_buildings / cols).astype(np.int64)
    spacing = np.minimum(spacing, 330.0 / np.maximum(np.maximum(cols, rows), 1))
    angle = rng.uniform(-0.35, 0.35, c)

    compound = np.repeat(np.arange(c, dtype=np.int64), n_buildings)
    starts = np.cumsum(n_buildings) - n_buildings
    local = np.arange(len(compound), dtype=np.int64) - np.repeat(starts, n_buildings)
    col = local % cols[compound]
    row = local // cols[compound]
    s = spacing[compound]
    u = (col - (cols[compound] - 1) / 2.0) * s + rng.uniform(-0.15, 0.15, len(local)) * s
    v = (row - (rows[compound] - 1) / 2.0) * s * 0.9 + rng.uniform(-0.15, 0.15, len(local)) * s
    a = angle[compound]
    x = centre_x[compound] + u * np.cos(a) - v * np.sin(a)
    y = centre_y[compound] + u * np.sin(a) + v * np.cos(a)
    return x, y, compound, local


def _grid_index(group: IntArray, households: IntArray, target: FloatArray) -> IntArray:
    """Split each group of buildings (contiguous, in order) into grids of ≈ ``target`` households.

    ``target`` is per group. Returns a dense 0-based grid index in building order.
    """
    frame = pl.DataFrame({"g": group, "hh": households}).with_columns(
        (pl.col("hh").cum_sum().over("g") - pl.col("hh")).alias("before"),
        pl.col("hh").sum().over("g").alias("total"),
    )
    total = frame["total"].to_numpy().astype(np.float64)
    before = frame["before"].to_numpy().astype(np.float64)
    count = np.maximum(np.rint(total / target[group]), 1.0)
    local = np.floor((before + households / 2.0) / np.maximum(total, 1.0) * count)
    local = np.minimum(local, count - 1).astype(np.int64)
    code = group * 100_000 + local
    _, dense = np.unique(code, return_inverse=True)
    return dense.astype(np.int64)


def _yellow_code(rng: np.random.Generator, residents: IntArray, share: float = 0.005) -> IntArray:
    """≈ ``share`` of residents yellow-coded: about 60 % in a few hot buildings, rest scattered."""
    n = len(residents)
    yellow = np.zeros(n, dtype=np.int64)
    target = round(share * float(residents.sum()))
    if target == 0 or n == 0:
        return yellow
    fraction = rng.uniform(0.2, 0.6, n)
    expected = residents * fraction
    order = rng.permutation(n)
    order = order[residents[order] >= 20] if (residents >= 20).any() else order
    hot_total = round(0.6 * target)
    hot = order[: int(np.searchsorted(np.cumsum(expected[order]), hot_total)) + 1]
    if hot_total and expected[hot].sum() > 0:
        yellow[hot] = rng.multinomial(hot_total, expected[hot] / expected[hot].sum())
    yellow = np.minimum(yellow, residents)
    rest = max(target - int(yellow.sum()), 0)
    if rest:
        p = residents / residents.sum()
        yellow += rng.multinomial(rest, p)
    return np.minimum(yellow, residents)


def _home_visits(
    rng: np.random.Generator,
    building_id: pl.Series,
    residents: IntArray,
    elderly: IntArray,
    households: int,
    candidates: BoolArray | None = None,
    *,
    exact: bool = False,
) -> pl.DataFrame:
    """``households`` home-visit households, mostly in buildings with many elderly residents.

    Persons 1–2 per household; a third have a visit window; per building the households never
    exceed its households nor the persons its residents (so a few draws may be dropped, unless
    ``exact``, which oversamples and keeps exactly ``households``).
    """
    n = len(residents)
    hh = _households(residents)
    share = np.divide(elderly, residents, out=np.zeros(n), where=residents > 0)
    weight = hh * (0.3 + 4.0 * share)
    if candidates is not None:
        weight = np.where(candidates, weight, 0.0)
    if households <= 0 or weight.sum() <= 0:
        return _empty_home_visits()
    wanted = households
    if exact:  # draw extra so that exactly ``households`` remain after the per-building caps
        households = households + households // 5 + 5
    building = np.sort(rng.choice(n, size=households, p=weight / weight.sum()))
    persons = rng.choice(np.array([1, 2]), households, p=[0.55, 0.45])
    timed = rng.random(households) < 1.0 / 3.0
    window = rng.integers(0, len(_VISIT_WINDOWS), households)
    starts = np.asarray([w[0] for w in _VISIT_WINDOWS])[window]
    ends = np.asarray([w[1] for w in _VISIT_WINDOWS])[window]
    notes = np.asarray([t for t, _ in _NOTES])[
        rng.choice(len(_NOTES), households, p=[p for _, p in _NOTES])
    ]
    frame = (
        pl.DataFrame(
            {
                "b": building,
                "persons": persons,
                "start": np.where(timed, starts, -1),
                "end": np.where(timed, ends, -1),
                "note": notes,
            }
        )
        .with_columns(
            pl.int_range(pl.len()).over("b").alias("k"),
            pl.col("persons").cum_sum().over("b").alias("cum"),
            pl.Series("hh", hh[building]),
            pl.Series("residents", residents[building]),
            pl.Series("building_id", building_id.to_numpy()[building]),
        )
        .filter((pl.col("k") < pl.col("hh")) & (pl.col("cum") <= pl.col("residents")))
    )
    if exact and frame.height > wanted:
        keep = np.sort(rng.choice(frame.height, wanted, replace=False))
        frame = frame[keep].with_columns(pl.int_range(pl.len()).over("b").alias("k"))
    return frame.select(
        pl.concat_str(
            pl.col("building_id"),
            pl.lit("-"),
            (pl.col("k") + 1).cast(pl.String).str.zfill(2),
        ).alias("household_id"),
        "building_id",
        pl.col("persons").cast(pl.Int64),
        clock_expr(pl.when(pl.col("start") >= 0).then(pl.col("start"))).alias("window_start"),
        clock_expr(pl.when(pl.col("end") >= 0).then(pl.col("end"))).alias("window_end"),
        "note",
    )


def _empty_home_visits() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "household_id": pl.String,
            "building_id": pl.String,
            "persons": pl.Int64,
            "window_start": pl.String,
            "window_end": pl.String,
            "note": pl.String,
        }
    )


def _grids_table(
    rng: np.random.Generator, grid_ids: pl.Series, names: pl.Series | None = None
) -> pl.DataFrame:
    """Grid id, name (第n网格 unless given) and a placeholder leader name."""
    n = len(grid_ids)
    if names is None:
        names = "第" + pl.Series(np.arange(1, n + 1)).cast(pl.String) + "网格"
    return pl.DataFrame({"grid_id": grid_ids, "name": names, "leader": _person_names(rng, n)})


# --------------------------------------------------------------------------- teams


def _medical_teams(
    rng: np.random.Generator, samplers: int, lat0: float, lon0: float, *, exact: bool = False
) -> pl.DataFrame:
    """Teams of 8–40 samplers from the origin counties adding up to ≥ ``samplers`` (exactly
    ``samplers`` with ``exact``: the last team is cut to fit)."""
    draws = samplers // 8 + 2
    sizes = np.clip(8 + rng.binomial(32, 0.4, draws), 8, 40).astype(np.int64)
    count = int(np.searchsorted(np.cumsum(sizes), samplers)) + 1
    sizes = sizes[:count]
    if exact:
        sizes[-1] -= int(sizes.sum()) - samplers
    weights = np.asarray([c[3] for c in COUNTIES])
    county = rng.choice(len(COUNTIES), count, p=weights / weights.sum())
    lat = np.asarray([c[1] for c in COUNTIES])[county] + rng.uniform(-0.01, 0.01, count)
    lon = np.asarray([c[2] for c in COUNTIES])[county] + rng.uniform(-0.01, 0.01, count)
    x, y = project(lat, lon, lat0, lon0)
    travel = np.hypot(x, y) / 1000.0 / 45.0 * 60.0  # 45 km/h on county roads
    # Two shifts (两班倒): about 60 % of the teams are the morning shift, on site before the
    # 07:00 opening (06:00–06:45); the rest relieve them, arriving staggered over
    # the late morning. Arrivals are rounded to the quarter hour.
    morning = rng.permutation(count) < max(1, round(0.6 * count))
    early = 6 * 60 + rng.uniform(0, 45, count)  # they set off early enough, whatever the distance
    late = 8 * 60 + travel + rng.uniform(0, 120, count)
    arrive = np.where(morning, early, late)
    arrive = np.clip(np.ceil(arrive / 15.0) * 15.0, 6 * 60, 10 * 60 + 30).astype(np.int64)
    leave = (14 * 60 + 30 * rng.integers(0, 13, count)).astype(np.int64)
    leave = np.maximum(leave, arrive + 4 * 60)
    names = np.asarray([c[0] for c in COUNTIES])[county]
    return (
        pl.DataFrame(
            {
                "team_id": _ids("T", count, 3),
                "samplers": sizes,
                "from": arrive,
                "to": leave,
                "lat": np.round(lat, 6),
                "lon": np.round(lon, 6),
                "home_visit": np.zeros(count, dtype=bool),
                "county": names,
            }
        )
        .with_columns((pl.int_range(pl.len()).over("county") + 1).alias("k"))
        .select(
            "team_id",
            "samplers",
            clock_expr(pl.col("from")).alias("available_from"),
            clock_expr(pl.col("to")).alias("available_to"),
            "lat",
            "lon",
            "home_visit",
            pl.format("{}医疗队第{}组", "county", "k").alias("name"),
        )
    )


def _home_visit_teams(
    rng: np.random.Generator, count: int, lat: FloatArray, lon: FloatArray, first: int
) -> pl.DataFrame:
    """``count`` two-person home-visit teams based at ``lat``/``lon`` (community clinics)."""
    ids = _ids("HT", count, 3)
    return pl.DataFrame(
        {
            "team_id": ids,
            "samplers": np.full(count, 2, dtype=np.int64),
            "available_from": np.where(rng.random(count) < 0.5, "07:30", "08:00"),
            "available_to": np.where(rng.random(count) < 0.5, "17:30", "18:00"),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "home_visit": np.ones(count, dtype=bool),
            "name": [f"榆次区上门采样第{k}队" for k in range(first, first + count)],
        }
    )


# --------------------------------------------------------------------------- labs, vehicles

TUBES_PER_LAB_HOUR_OF_DAY = 10.0
"""Testing hours the labs need for the day's tubes: Yuci's 2021 round sampled from 07:00 to
12:00 and had every result by 19:30 (``shared/domain.md``, issue 16), about ten hours of
testing after the first tubes arrived. Lab capacity in total = tubes ÷ this many hours."""
RESIDENTS_PER_LAB = 200_000
"""One lab per this many residents (at least one): "a handful" for a 1,000,000 district."""
POINTS_PER_VEHICLE = 8
"""Open points per pickup vehicle (Hongkou: one vehicle per street of ~10 points on fixed rounds;
a bit more here, as rounds are planned to the 2-hour rule rather than fixed)."""
VEHICLE_CAPACITY_TUBES = 800
"""Tubes one vehicle carries (a few cold boxes of ~200)."""
LAB_HOURS = (("09:00", "24:00"), ("00:00", "24:00"), ("00:00", "22:00"))
"""Opening hours of the generated labs, in turn: a hospital lab from its day shift at 09:00,
a lab open round the clock, one closing at 22:00."""


def _labs_and_vehicles(
    seed: int, residents: int, points: int, radius: float, lat0: float, lon0: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labs (hospital and CDC labs) and pickup vehicles based at them.

    Drawn from their own random stream, so the other tables are the same as without them.
    Hours (:data:`LAB_HOURS`, in turn by lab): some labs open all day, some only from 09:00
    (after the first tubes are sealed) or until 22:00, so plans meet real opening hours.
    Capacity: the day's tubes (≈ residents ÷ pool of 10) ÷ :data:`TUBES_PER_LAB_HOUR_OF_DAY`,
    split over the labs by random weights and rounded up to tens.
    """
    rng = np.random.default_rng([seed, 16])
    n_labs = max(1, round(residents / RESIDENTS_PER_LAB))
    angle = rng.uniform(0.0, 2.0 * math.pi, n_labs)
    dist = radius * rng.uniform(0.2, 0.8, n_labs)
    dist[0] = radius * 0.1  # the city hospital near the centre
    lat, lon = unproject(dist * np.cos(angle), dist * np.sin(angle), lat0, lon0)
    share = rng.uniform(0.7, 1.3, n_labs)
    total = residents / 10.0 / TUBES_PER_LAB_HOUR_OF_DAY
    rate = np.ceil(total * share / share.sum() / 10.0).astype(np.int64) * 10
    labs = pl.DataFrame(
        {
            "lab_id": _ids("L", n_labs, 2),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "tubes_per_hour": np.maximum(rate, 10),
            "open_from": [LAB_HOURS[k % len(LAB_HOURS)][0] for k in range(n_labs)],
            "open_to": [LAB_HOURS[k % len(LAB_HOURS)][1] for k in range(n_labs)],
            "name": [f"检测实验室{k + 1}" for k in range(n_labs)],
        }
    )
    n_vehicles = max(1, math.ceil(points / POINTS_PER_VEHICLE))
    base = np.arange(n_vehicles) % n_labs
    vehicles = pl.DataFrame(
        {
            "vehicle_id": _ids("V", n_vehicles, 3),
            "lat": np.round(lat[base], 6),
            "lon": np.round(lon[base], 6),
            "capacity_tubes": np.full(n_vehicles, VEHICLE_CAPACITY_TUBES, dtype=np.int64),
            "available_from": ["06:30"] * n_vehicles,
            "available_to": ["23:00"] * n_vehicles,
            "name": [f"转运车{k + 1}" for k in range(n_vehicles)],
        }
    )
    return labs, vehicles


# --------------------------------------------------------------------------- the district


def _point_frame(
    rng: np.random.Generator,
    x: FloatArray,
    y: FloatArray,
    compound_name: NDArray[np.str_],
) -> pl.DataFrame:
    """Points at ``x, y`` near compounds: kind, name and 4–10 tables (id/status added later)."""
    n = len(x)
    kind = rng.choice(len(_POINT_KINDS), n, p=[k[2] for k in _POINT_KINDS])
    tables = rng.choice(np.arange(4, 11), n, p=[0.10, 0.15, 0.22, 0.20, 0.15, 0.10, 0.08]).astype(
        np.int64
    )
    tables = np.where(np.isin(kind, [1, 2]), np.minimum(tables + 2, 10), tables)
    frame = pl.DataFrame(
        {
            "x": x,
            "y": y,
            "max_tables": tables,
            "kind": np.asarray([k[0] for k in _POINT_KINDS])[kind],
            "name": np.char.add(compound_name, np.asarray([k[1] for k in _POINT_KINDS])[kind]),
        }
    )
    return frame.with_columns(_unique_names(frame["name"]))


def samplers_needed(residents: int) -> float:
    """Samplers a district "needs" by the national norm: residents ÷ 360
    (:data:`sampling.scenario.norms.RESIDENTS_PER_SAMPLER`, the 3rd edition's figure for a
    24-hour round). A 07:00–14:00 window at 100 swabs per table per hour needs more (two
    samplers per table over two shifts: about residents ÷ 344), so a ratio of 1 is already
    slightly short there; ``natplan validate`` says by how much."""
    return residents / RESIDENTS_PER_SAMPLER


def synthesise_district(residents: int, seed: int, *, staff_ratio: float | None = None) -> District:
    """Build a synthetic district of exactly ``residents`` residents (deterministic per seed).

    ``staff_ratio``: medical samplers = ceil(ratio × :func:`samplers_needed`) instead of the
    default 5–15 % above it; everything else is the same district as without it (the same
    random draws), so a short-staffed variant differs from the default only in its teams.
    """
    if residents < 1:
        raise ValueError("residents must be at least 1")
    if staff_ratio is not None and not (0.0 < staff_ratio <= 10.0 and math.isfinite(staff_ratio)):
        raise ValueError("staff_ratio must be in (0, 10]")
    rng = np.random.default_rng(seed)
    n_res = int(residents)
    radius = max(400.0, 5500.0 * math.sqrt(n_res / 1e6))

    # Compounds: one per lattice cell, cells taken in density-weighted random order.
    draw = n_res // 700 + 30
    half = max(math.ceil(1.6 * radius / _CELL_M) + 2, math.ceil(math.sqrt(1.5 * draw)))
    grid = np.arange(-half, half + 1, dtype=np.float64) * _CELL_M
    gx, gy = (a.ravel() for a in np.meshgrid(grid, grid))
    rho = np.hypot(gx, gy) / radius
    key = -4.0 * rho**3 + rng.gumbel(size=len(gx))
    cells = np.argsort(-key, kind="stable")[:draw]
    cx, cy, crho = gx[cells], gy[cells], np.minimum(rho[cells], 1.5)
    p_low = 0.08 + 0.06 * crho
    p_high = 0.10 + 0.12 * np.minimum(crho, 1.0)
    u = rng.random(draw)
    kind = np.where(u < p_low, LOWRISE, np.where(u < p_low + p_high, HIGHRISE, WALKUP))
    kind = kind.astype(np.int64)
    nb = np.select(
        [kind == WALKUP, kind == HIGHRISE],
        [
            5 + np.floor(55 * rng.beta(1.6 + 1.6 * (1.0 - np.minimum(crho, 1.0)), 3.2)),
            5 + np.floor(25 * rng.beta(1.5, 3.0, draw)),
        ],
        5 + np.floor(55 * rng.beta(2.0, 2.0, draw)),
    ).astype(np.int64)

    b_kind = np.repeat(kind, nb)
    b_res = _building_residents(rng, b_kind)
    cum = np.cumsum(b_res)
    if cum[-1] < n_res:  # practically never: top up with extra walk-ups in the last compound
        extra = (n_res - int(cum[-1])) // 40 + 1
        b_res = np.concatenate([b_res, np.full(extra, 40, dtype=np.int64)])
        b_kind = np.concatenate([b_kind, np.full(extra, WALKUP, dtype=np.int64)])
        nb[-1] += extra
        cum = np.cumsum(b_res)
    last = int(np.searchsorted(cum, n_res))
    b_res = b_res[: last + 1].copy()
    b_res[-1] -= int(cum[last]) - n_res
    comp_of_b = np.repeat(np.arange(draw, dtype=np.int64), nb)[: last + 1]
    n_comp = int(comp_of_b[-1]) + 1
    kind, cx, cy = kind[:n_comp], cx[:n_comp].copy(), cy[:n_comp].copy()
    nb = np.bincount(comp_of_b, minlength=n_comp).astype(np.int64)
    cx += rng.uniform(-0.12, 0.12, n_comp) * _CELL_M
    cy += rng.uniform(-0.12, 0.12, n_comp) * _CELL_M

    # A few small low-rise hamlets beyond the built-up edge: out of walking reach.
    fringe = np.zeros(n_comp, dtype=bool)
    lows = np.flatnonzero(kind == LOWRISE)
    n_fringe = 0 if n_res < 20_000 else min(len(lows), 1 + n_res // 400_000)
    if n_fringe:
        chosen = lows[np.argsort(nb[lows], kind="stable")[:n_fringe]]
        edge = float(np.hypot(cx, cy).max())
        dist = edge + rng.uniform(1300.0, 1800.0, n_fringe)
        theta = rng.uniform(0.0, 2.0 * math.pi, n_fringe)
        cx[chosen], cy[chosen] = dist * np.cos(theta), dist * np.sin(theta)
        fringe[chosen] = True

    bx, by, _, local = _layout(rng, cx, cy, kind, nb)
    c_res = np.bincount(comp_of_b, weights=b_res, minlength=n_comp)

    # Compound names, elderly, grids.
    prefix = np.asarray(_PREFIXES)[rng.integers(0, len(_PREFIXES), n_comp)]
    suffix = np.empty(n_comp, dtype=object)
    for k, options in _SUFFIXES.items():
        mask = kind == k
        suffix[mask] = np.asarray(options)[rng.integers(0, len(options), int(mask.sum()))]
    c_name = _unique_names(pl.Series(np.char.add(prefix, suffix.astype(str)))).to_numpy()
    c_name = c_name.astype(str)

    mean_elderly = np.select([kind == WALKUP, kind == HIGHRISE], [0.17, 0.11], 0.20)
    rate = rng.beta(mean_elderly * 40, (1 - mean_elderly) * 40)
    walkups = np.flatnonzero((kind == WALKUP) & ~fringe)
    if len(walkups):
        old = walkups[np.argmin(np.abs(c_res[walkups] - 224))]  # ≈ 80 households
        rate[old] = 0.75
    b_elderly = rng.binomial(b_res, rate[comp_of_b]).astype(np.int64)
    b_yellow = _yellow_code(rng, b_res)
    b_hh = _households(b_res)
    grid_of_b = _grid_index(comp_of_b, b_hh, rng.uniform(250, 450, n_comp))
    n_grids = int(grid_of_b.max()) + 1
    grid_ids = _ids("G", n_grids)

    lat, lon = unproject(bx, by, CENTRE_LAT, CENTRE_LON)
    n_b = len(b_res)
    building_id = _ids("B", n_b, 5)
    suffix_b = np.where(kind[comp_of_b] == LOWRISE, "号院", "号楼")
    buildings = pl.DataFrame(
        {
            "building_id": building_id,
            "grid_id": grid_ids.gather(grid_of_b),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "residents": b_res,
            "yellow_code": b_yellow,
            "elderly": b_elderly,
            "name": np.char.add(np.char.add(c_name[comp_of_b], (local + 1).astype(str)), suffix_b),
            "compound": c_name[comp_of_b],
        }
    )

    # Candidate points: per compound by largest remainder, spread over its buildings.
    per_point = rng.uniform(1000.0, 1300.0)
    town = np.where(fringe, 0.0, c_res)
    k_c = _largest_remainder(max(1, round(float(town.sum()) / per_point)), town)
    p_comp = np.repeat(np.arange(n_comp, dtype=np.int64), k_c)
    j = np.arange(len(p_comp)) - np.repeat(np.cumsum(k_c) - k_c, k_c)
    first_b = np.cumsum(nb) - nb
    pick = first_b[p_comp] + np.floor((j + 0.5) * nb[p_comp] / k_c[p_comp]).astype(np.int64)
    angle = rng.uniform(0, 2 * math.pi, len(pick))
    offset = rng.uniform(20.0, 45.0, len(pick))
    px = bx[pick] + offset * np.cos(angle)
    py = by[pick] + offset * np.sin(angle)
    p_name = c_name[p_comp]
    n_closed = 0 if len(px) < 5 else max(1, round(0.015 * len(px)))
    closed = np.zeros(len(px), dtype=bool)
    closed[rng.choice(len(px), n_closed, replace=False)] = True

    # Cover every town building: add a point next to the first uncovered one until none is.
    reach = np.full(n_b, np.inf)
    if (~closed).any():
        reach, _ = cKDTree(np.column_stack([px[~closed], py[~closed]])).query(
            np.column_stack([bx, by])
        )
    uncovered = (np.asarray(reach) > REACH_M - 1.0) & ~fringe[comp_of_b]
    add_x: list[float] = []
    add_y: list[float] = []
    add_b: list[int] = []
    while uncovered.any():
        b = int(np.argmax(uncovered))
        ax, ay = bx[b] + 25.0, by[b] + 25.0
        add_x.append(ax)
        add_y.append(ay)
        add_b.append(b)
        uncovered &= np.hypot(bx - ax, by - ay) > REACH_M - 1.0
    px = np.concatenate([px, np.asarray(add_x)])
    py = np.concatenate([py, np.asarray(add_y)])
    p_name = np.concatenate([p_name, c_name[comp_of_b[np.asarray(add_b, dtype=np.int64)]]])
    closed = np.concatenate([closed, np.zeros(len(add_x), dtype=bool)])
    n_pts = len(px)

    points = _point_frame(rng, px, py, p_name)
    open_idx = np.flatnonzero(~closed)
    big = np.isin(points["kind"].to_numpy(), ["school", "square"])[open_idx]
    n_required = 0 if n_pts < 5 else max(1, round(0.015 * n_pts))
    required = np.zeros(n_pts, dtype=bool)
    if n_required:
        w = np.where(big, 3.0, 1.0)
        required[rng.choice(open_idx, n_required, replace=False, p=w / w.sum())] = True
    plat, plon = unproject(px, py, CENTRE_LAT, CENTRE_LON)
    max_open = max(n_required, round(n_res / 2500), 1)
    points = points.select(
        _ids("P", n_pts).alias("point_id"),
        pl.Series("lat", np.round(plat, 6)),
        pl.Series("lon", np.round(plon, 6)),
        "max_tables",
        pl.Series(
            "status", np.where(closed, "closed", np.where(required, "required", "candidate"))
        ),
        "name",
        "kind",
    )

    # Home visits and teams.
    home = _home_visits(
        rng,
        buildings["building_id"],
        b_res,
        b_elderly,
        round(0.02 * float(b_hh.sum())),
    )
    slack = rng.uniform(1.05, 1.15)  # drawn either way: the rest of the district stays the same
    ratio = slack if staff_ratio is None else staff_ratio
    samplers = max(1, math.ceil(samplers_needed(n_res) * ratio - 1e-9))
    medical = _medical_teams(rng, samplers, CENTRE_LAT, CENTRE_LON, exact=staff_ratio is not None)
    n_home_teams = math.ceil(home.height / 35.0)
    clinic: IntArray = rng.choice(np.flatnonzero(~fringe[comp_of_b]), n_home_teams)
    hlat, hlon = unproject(bx[clinic] + 30.0, by[clinic] - 30.0, CENTRE_LAT, CENTRE_LON)
    teams = pl.concat([medical, _home_visit_teams(rng, n_home_teams, hlat, hlon, 1)])

    labs, vehicles = _labs_and_vehicles(seed, n_res, max_open, radius, CENTRE_LAT, CENTRE_LON)
    name = f"generated-{n_res}-seed-{seed}"
    flag = ""
    if staff_ratio is not None:
        name += f"-staff-{staff_ratio:g}"
        flag = f" --staff-ratio {staff_ratio:g}"
    return District(
        name=name,
        description=(
            f"Synthetic district of {n_res:,} residents around Yuci, Jinzhong "
            f"(natplan generate --residents {n_res} --seed {seed}{flag}). Not real data."
        ),
        attribution="synthetic data generated by natplan; county seats approximate",
        max_open_points=max_open,
        buildings=buildings,
        points=points,
        teams=teams,
        home_visits=home,
        grids=_grids_table(rng, grid_ids),
        labs=labs,
        vehicles=vehicles,
    )


# --------------------------------------------------------------------------- writing


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(text, ensure_ascii=False)


def scenario_toml(
    district: District, fmt: Format, *, window: tuple[str, str] = ("07:00", "14:00")
) -> str:
    """The ``scenario.toml`` text for ``district`` with tables in ``fmt``."""
    q = _toml_string
    home = f"home_visits = {q('home_visits.' + fmt)}\n" if district.home_visits.height else ""
    return (
        f"name = {q(district.name)}\n"
        f"date = {q(DATE)}\n"
        'coordinates = "wgs84"\n'
        f"description = {q(district.description)}\n"
        f"attribution = {q(district.attribution)}\n"
        "\n[window]\n"
        f"start = {q(window[0])}\n"
        f"end = {q(window[1])}\n"
        "\n[walking]\n"
        "limit_min = 15.0\n"
        "speed_m_per_min = 75.0\n"
        "detour_factor = 1.3\n"
        "\n[sampling]\n"
        "swabs_per_table_per_hour = 100\n"
        "pool_size = 10\n"
        "yellow_pool_size = 1\n"
        "queue_wait_limit_min = 30\n"
        f"max_open_points = {district.max_open_points}\n"
        "\n[tables]\n"
        f"buildings = {q('buildings.' + fmt)}\n"
        f"points = {q('points.' + fmt)}\n"
        f"teams = {q('teams.' + fmt)}\n"
        f"{home}"
        f"grids = {q('grids.' + fmt)}\n"
        f"{_transport_toml(district, fmt)}"
    )


def _transport_toml(district: District, fmt: Format) -> str:
    """Table paths of labs and vehicles and the ``[transport]`` section (when it has them)."""
    if district.labs is None or district.vehicles is None:
        return ""
    return (
        f"labs = {_toml_string('labs.' + fmt)}\n"
        f"vehicles = {_toml_string('vehicles.' + fmt)}\n"
        "\n[transport]\n"
        "max_tube_age_min = 240\n"
        "pickup_interval_max_min = 120\n"
        "drive_speed_km_h = 30\n"
        "stop_min = 5\n"
        "unload_min = 10\n"
    )


def summarise_district(district: District, out_dir: Path, fmt: str) -> GenerateSummary:
    """Counts of ``district``, including buildings out of 15-minute reach of an open point."""
    b, p, t, h = district.buildings, district.points, district.teams, district.home_visits
    usable = p.filter(pl.col("status") != "closed")
    bx, by = project(b["lat"].to_numpy(), b["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    ux, uy = project(usable["lat"].to_numpy(), usable["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    if usable.height:
        dist, _ = cKDTree(np.column_stack([ux, uy])).query(np.column_stack([bx, by]))
        far = np.asarray(dist) > REACH_M
    else:
        far = np.ones(b.height, dtype=bool)
    medical = t.filter(~pl.col("home_visit"))
    return GenerateSummary(
        out_dir=out_dir,
        name=district.name,
        fmt=fmt,
        residents=int(b["residents"].sum()),
        buildings=b.height,
        compounds=b["compound"].n_unique(),
        grids=district.grids.height,
        points=p.height,
        points_required=int((p["status"] == "required").sum()),
        points_closed=int((p["status"] == "closed").sum()),
        max_open_points=district.max_open_points,
        tables_max=int(usable["max_tables"].sum()),
        teams=medical.height,
        samplers=int(medical["samplers"].sum()),
        home_visit_teams=t.height - medical.height,
        home_visit_households=h.height,
        home_visit_persons=int(h["persons"].sum()),
        yellow_code=int(b["yellow_code"].sum()),
        elderly=int(b["elderly"].sum()),
        unreachable_buildings=int(far.sum()),
        unreachable_residents=int(b["residents"].to_numpy()[far].sum()),
    )


def write_district(
    district: District,
    out_dir: Path,
    *,
    fmt: Format = "csv",
    overwrite: bool = False,
    readme: str | None = None,
) -> GenerateSummary:
    """Write ``district`` as a scenario folder, atomically (temp folder, then rename).

    Raises :class:`~sampling.files.ownership.OutputFolderError` if ``out_dir`` is not empty,
    unless ``overwrite`` and it is a scenario folder natplan wrote with nothing else in it.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r} (csv or parquet)")
    out_dir = Path(out_dir)
    tables = {
        "buildings": district.buildings,
        "points": district.points,
        "teams": district.teams,
        "grids": district.grids,
    }
    if district.home_visits.height:
        tables["home_visits"] = district.home_visits
    if district.labs is not None and district.vehicles is not None:
        tables["labs"] = district.labs
        tables["vehicles"] = district.vehicles
    with atomic_dir(out_dir, kind="scenario", overwrite=overwrite) as staging:
        (staging / "scenario.toml").write_text(scenario_toml(district, fmt), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a scenario folder is shared data
        for name, frame in tables.items():
            if fmt == "csv":
                frame.write_csv(staging / f"{name}.csv")
            else:
                frame.write_parquet(staging / f"{name}.parquet", statistics=False)
        if readme is not None:
            (staging / "README.md").write_text(readme, encoding="utf-8")
    return summarise_district(district, out_dir, fmt)


def generate_district(
    residents: int,
    seed: int,
    out_dir: Path,
    *,
    fmt: Format = "csv",
    overwrite: bool = False,
    staff_ratio: float | None = None,
) -> GenerateSummary:
    """Generate a synthetic district of ``residents`` residents and write it to ``out_dir``.

    Same ``(residents, seed, fmt, staff_ratio)`` → byte-identical files. ``staff_ratio``: see
    :func:`synthesise_district`. Refuses (OutputFolderError) to replace a non-empty
    ``out_dir`` unless ``overwrite`` and natplan wrote it; the folder appears only when
    complete.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir, kind="scenario", overwrite=overwrite)
    return write_district(
        synthesise_district(residents, seed, staff_ratio=staff_ratio),
        out_dir,
        fmt=fmt,
        overwrite=overwrite,
    )


# --------------------------------------------------------------------------- yuci-street

YUCI_STREET_LAT = 37.6905
"""Reference latitude of the synthetic ``yuci-street`` sub-district."""
YUCI_STREET_LON = 112.7510
"""Reference longitude of the synthetic ``yuci-street`` sub-district."""
_YUCI_SEED = 20220428
_YUCI_TOTAL = 12 * 2_849  # 34,188: twelve points at Yuci's 2,849 residents per point
_COMMUNITY = "安宁社区"
_COMMUNITY_RESIDENTS = 4_600
_COMMUNITY_HOME_VISITS = 96


@dataclass(frozen=True)
class _Compound:
    name: str
    kind: int
    buildings: int
    residents: int  # 0: the remainder of its community's (or the sub-district's) total
    x: float
    y: float
    elderly: float
    community: str
    grid_group: int  # compounds sharing a group share grids (small ones are merged)


# The 安宁社区 community of the seed report (11 compounds + 1 shanty area, 4,600 residents,
# one compound of 80 households mostly elderly), then the rest of the sub-district.
_YUCI_COMPOUNDS: tuple[_Compound, ...] = (
    _Compound("安宁小区", WALKUP, 12, 760, -1100, 380, 0.18, _COMMUNITY, 0),
    _Compound("纺织厂家属院", WALKUP, 8, 520, -800, 460, 0.22, _COMMUNITY, 1),
    _Compound("铁路宿舍", WALKUP, 6, 380, -520, 430, 0.20, _COMMUNITY, 1),
    _Compound("康乐苑", WALKUP, 3, 168, -1150, 20, 0.80, _COMMUNITY, 2),
    _Compound("锦绣花园", HIGHRISE, 4, 1_100, -850, 80, 0.10, _COMMUNITY, 2),
    _Compound("和平小区", WALKUP, 7, 430, -540, 60, 0.17, _COMMUNITY, 3),
    _Compound("供电局家属院", WALKUP, 4, 260, -1150, -330, 0.20, _COMMUNITY, 3),
    _Compound("新华苑", WALKUP, 5, 300, -850, -300, 0.16, _COMMUNITY, 3),
    _Compound("粮站宿舍", WALKUP, 3, 170, -560, -300, 0.22, _COMMUNITY, 4),
    _Compound("文苑小区", WALKUP, 4, 200, -1030, -620, 0.15, _COMMUNITY, 4),
    _Compound("朝阳小区", WALKUP, 3, 0, -760, -640, 0.15, _COMMUNITY, 4),
    _Compound("东关片区", LOWRISE, 32, 190, -470, -650, 0.25, _COMMUNITY, 4),
    _Compound("南关村", LOWRISE, 55, 600, -300, 950, 0.22, "龙湖社区", 5),
    _Compound("龙湖名都", HIGHRISE, 14, 0, 300, 520, 0.09, "龙湖社区", 6),
    _Compound("御景华府", HIGHRISE, 10, 3_900, 900, 560, 0.10, "龙湖社区", 7),
    _Compound("世纪花园", HIGHRISE, 8, 3_200, 1_400, 320, 0.11, "龙湖社区", 8),
    _Compound("顺城小区", WALKUP, 40, 3_300, 180, -60, 0.17, "顺城社区", 9),
    _Compound("迎宾小区", WALKUP, 36, 2_900, 760, -20, 0.16, "顺城社区", 10),
    _Compound("汇通家属院", WALKUP, 22, 1_700, 1_300, -260, 0.19, "顺城社区", 11),
    _Compound("紫金苑", WALKUP, 30, 2_400, 150, -640, 0.15, "紫金社区", 12),
    _Compound("金桥新村", WALKUP, 26, 2_000, 720, -600, 0.17, "紫金社区", 13),
    _Compound("盛世华庭", HIGHRISE, 9, 3_100, 1_280, -760, 0.10, "紫金社区", 14),
)

# name, kind, x, y, max_tables, status: the community's two points are required (it set them
# up itself); the other ten are candidates, and max_open_points = 12 lets the planner close any.
_YUCI_POINTS: tuple[tuple[str, str, float, float, int, str], ...] = (
    ("安宁社区广场", "square", -960, 230, 6, "required"),
    ("东关小学操场", "school", -760, -470, 5, "required"),
    ("龙湖名都广场", "square", 260, 250, 8, "candidate"),
    ("御景华府活动场", "playground", 960, 300, 7, "candidate"),
    ("世纪花园停车场", "parking", 1_520, 20, 8, "candidate"),
    ("顺城中学操场", "school", 470, -40, 6, "candidate"),
    ("迎宾公园", "park", 1_040, -180, 7, "candidate"),
    ("汇通社区服务中心", "community_centre", 1_560, -520, 6, "candidate"),
    ("紫金苑活动场", "playground", 420, -620, 7, "candidate"),
    ("金桥广场", "square", 980, -700, 6, "candidate"),
    ("南关村文化广场", "square", -200, 700, 6, "candidate"),
    ("锦纶文化广场", "square", -180, -320, 6, "candidate"),
)

# county (see COUNTIES), samplers, available_from, available_to
_YUCI_TEAMS: tuple[tuple[str, int, str, str], ...] = (
    ("太谷区", 32, "06:45", "14:30"),
    ("祁县", 24, "07:15", "15:00"),
    ("寿阳县", 20, "07:00", "14:30"),
    ("清徐县", 16, "07:30", "16:00"),
    ("小店区", 12, "06:30", "14:00"),
)

YUCI_README = """# yuci-street: one sub-district of Yuci, April 2022 (synthetic)

Rebuild with `python -c "from sampling.generate import write_yuci_street; \\
write_yuci_street('scenarios/yuci-street', overwrite=True)"` (deterministic).

## What it models
One sub-district (街道) of Yuci district, Jinzhong, in the one-day round of 28 April 2022,
shaped after the seed report in `shared/domain.md`:

* **{total:,} residents** = 12 points × 2,849, Yuci's district-wide residents per point
  (923,034 residents / 324 points), in {buildings:,} buildings, {compounds} compounds and
  {grids} grids (网格, a few hundred households each).
* **12 sampling points with 78 tables** (`max_tables` sums to 78), as in the report.
  The two points of 安宁社区 are `required` (the community set them up itself); the other ten
  are `candidate` and `max_open_points = 12`, so the planner may open all of them or close
  some. None is `closed`.
* **安宁社区**: 4,600 residents in 11 compounds plus one shanty area (东关片区, 1–3-storey
  houses), with **96 home-visit households**; one compound (康乐苑) of 80 households
  (168 residents, small elderly households) whose residents are mostly elderly.
* The rest of the sub-district: high-rise and walk-up compounds and one urban village (南关村)
  in 龙湖社区, 顺城社区 and 紫金社区; about 2 % of their households are home visits too
  ({hv_other} households), for {hv_total} in all.
* **Medical teams** from neighbouring counties: {teams} teams with {samplers} samplers
  (residents ÷ 360 = {norm:.0f}, so ≈ 10 % slack), arriving 06:30–07:30; **{hv_teams}
  two-person home-visit teams** (≈ one per 35 households).
* Yellow code ≈ 0.5 % of residents ({yellow}, most in a few buildings); elderly {elderly:,}
  ({elderly_share:.0%}).
* Every building is within the 15-minute walk (865 m straight line) of at least one point;
  the points nearest to the big high-rise compounds cannot take all their neighbours, so the
  planner has to spread load (78 tables × 700 = 54,600 swabs of capacity in 07:00–14:00).
* Home visits (`home_visits.csv`) are part of their buildings' `residents`.
* **Tubes to the labs**: two labs 3–4 km away (`labs.csv`, 400 and 300 tubes per hour for
  this sub-district, open all day) and three pickup vehicles of 500 tubes (`vehicles.csv`),
  with the default rules (`[transport]`: no tube older than 240 minutes at its lab, none
  waiting more than 120 minutes at its point).

## What is synthetic
Everything below the published totals: compound and point names, building positions and
sizes, grids and leader names (placeholders), household details, team sizes and hours. The
sub-district is placed near Yuci's centre ({lat}, {lon}) but its layout is invented; county
seats of the teams' origins are approximate. Do not read it as a map of real places.
"""


def yuci_street() -> District:
    """The ``yuci-street`` example sub-district (deterministic)."""
    rng = np.random.default_rng(_YUCI_SEED)
    specs = _YUCI_COMPOUNDS
    kind = np.asarray([c.kind for c in specs], dtype=np.int64)
    nb = np.asarray([c.buildings for c in specs], dtype=np.int64)
    totals = np.asarray([c.residents for c in specs], dtype=np.int64)
    community = np.asarray([c.community == _COMMUNITY for c in specs])
    gap = community & (totals == 0)
    totals[gap] = _COMMUNITY_RESIDENTS - totals[community].sum()
    totals[totals == 0] = _YUCI_TOTAL - totals.sum()
    cx = np.asarray([c.x for c in specs], dtype=np.float64)
    cy = np.asarray([c.y for c in specs], dtype=np.float64)
    bx, by, comp_of_b, local = _layout(rng, cx, cy, kind, nb)

    drawn = _building_residents(rng, kind[comp_of_b]).astype(np.float64)
    b_res = np.zeros(len(drawn), dtype=np.int64)
    for c in range(len(specs)):
        mask = comp_of_b == c
        b_res[mask] = _largest_remainder(int(totals[c]), drawn[mask])
    rates = np.asarray([c.elderly for c in specs])
    b_elderly = rng.binomial(b_res, rates[comp_of_b]).astype(np.int64)
    b_yellow = _yellow_code(rng, b_res)
    group = np.asarray([c.grid_group for c in specs], dtype=np.int64)[comp_of_b]
    grid_of_b = _grid_index(group, _households(b_res), np.full(group.max() + 1, 350.0))
    n_grids = int(grid_of_b.max()) + 1
    grid_ids = _ids("G", n_grids, 2)
    grid_community = np.asarray([c.community for c in specs])[comp_of_b]
    first_of_grid = np.unique(grid_of_b, return_index=True)[1]
    grid_names = (
        pl.DataFrame({"community": grid_community[first_of_grid]})
        .select(
            pl.format("{}第{}网格", "community", pl.int_range(1, pl.len() + 1).over("community"))
        )
        .to_series()
    )

    names = np.asarray([c.name for c in specs])
    suffix_b = np.where(kind[comp_of_b] == LOWRISE, "号院", "号楼")
    lat, lon = unproject(bx, by, YUCI_STREET_LAT, YUCI_STREET_LON)
    buildings = pl.DataFrame(
        {
            "building_id": _ids("B", len(b_res)),
            "grid_id": grid_ids.gather(grid_of_b),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "residents": b_res,
            "yellow_code": b_yellow,
            "elderly": b_elderly,
            "name": np.char.add(np.char.add(names[comp_of_b], (local + 1).astype(str)), suffix_b),
            "compound": names[comp_of_b],
        }
    )

    in_community = community[comp_of_b]
    visits_community = _home_visits(
        rng,
        buildings["building_id"],
        b_res,
        b_elderly,
        _COMMUNITY_HOME_VISITS,
        in_community,
        exact=True,
    )
    other_households = round(0.02 * float(_households(b_res)[~in_community].sum()))
    visits_other = _home_visits(
        rng, buildings["building_id"], b_res, b_elderly, other_households, ~in_community
    )
    home = pl.concat([visits_community, visits_other]).sort("building_id", "household_id")

    px = np.asarray([p[2] for p in _YUCI_POINTS], dtype=np.float64)
    py = np.asarray([p[3] for p in _YUCI_POINTS], dtype=np.float64)
    plat, plon = unproject(px, py, YUCI_STREET_LAT, YUCI_STREET_LON)
    points = pl.DataFrame(
        {
            "point_id": _ids("P", len(px), 2),
            "lat": np.round(plat, 6),
            "lon": np.round(plon, 6),
            "max_tables": np.asarray([p[4] for p in _YUCI_POINTS], dtype=np.int64),
            "status": [p[5] for p in _YUCI_POINTS],
            "name": [p[0] for p in _YUCI_POINTS],
            "kind": [p[1] for p in _YUCI_POINTS],
        }
    )

    seats = {c[0]: (c[1], c[2]) for c in COUNTIES}
    medical = pl.DataFrame(
        {
            "team_id": _ids("T", len(_YUCI_TEAMS), 2),
            "samplers": np.asarray([t[1] for t in _YUCI_TEAMS], dtype=np.int64),
            "available_from": [t[2] for t in _YUCI_TEAMS],
            "available_to": [t[3] for t in _YUCI_TEAMS],
            "lat": [seats[t[0]][0] for t in _YUCI_TEAMS],
            "lon": [seats[t[0]][1] for t in _YUCI_TEAMS],
            "home_visit": np.zeros(len(_YUCI_TEAMS), dtype=bool),
            "name": [f"{t[0]}医疗队" for t in _YUCI_TEAMS],
        }
    )
    n_home_teams = math.ceil(home.height / 35.0)
    clinic_x = np.where(np.arange(n_home_teams) < 3, -700.0, 600.0)  # community / street clinic
    clinic_y = np.where(np.arange(n_home_teams) < 3, -120.0, 200.0)
    hlat, hlon = unproject(clinic_x, clinic_y, YUCI_STREET_LAT, YUCI_STREET_LON)
    teams = pl.concat([medical, _home_visit_teams(rng, n_home_teams, hlat, hlon, 1)])

    labs, vehicles = _yuci_labs_and_vehicles()
    return District(
        name="yuci-street",
        description=(
            "One sub-district of Yuci, Jinzhong, modelled on the April 2022 report: 12 points "
            "with 78 tables; 安宁社区 with 4,600 residents in 11 compounds and a shanty area, "
            "96 home-visit households. Synthetic layout and names."
        ),
        attribution="synthetic; totals after Yuci district reports (Apr 2022)",
        max_open_points=len(_YUCI_POINTS),
        buildings=buildings,
        points=points,
        teams=teams,
        home_visits=home,
        grids=_grids_table(rng, grid_ids, grid_names),
        labs=labs,
        vehicles=vehicles,
    )


# name, x, y (metres from the sub-district's reference), tubes per hour: two of the district's
# labs. Yuci's ~92,000 tubes of 28 April 2022 were tested in about ten hours; these two take a
# sub-district's ≈ 3,600 tubes at a share of that rate (they serve other streets too).
_YUCI_LABS: tuple[tuple[str, float, float, int], ...] = (
    ("晋中市第一人民医院检验科", -2_600, 1_900, 400),
    ("榆次区疾控中心实验室", 3_300, -1_400, 300),
)
# depot lab, capacity, available from, to: one vehicle per lab on the street's rounds
_YUCI_VEHICLES: tuple[tuple[int, int, str, str], ...] = (
    (0, 500, "06:45", "20:00"),
    (1, 500, "07:00", "20:00"),
    (0, 500, "08:00", "20:00"),
)


def _yuci_labs_and_vehicles() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``yuci-street`` labs and pickup vehicles (deterministic, no random draws)."""
    lx = np.asarray([lab[1] for lab in _YUCI_LABS], dtype=np.float64)
    ly = np.asarray([lab[2] for lab in _YUCI_LABS], dtype=np.float64)
    lat, lon = unproject(lx, ly, YUCI_STREET_LAT, YUCI_STREET_LON)
    labs = pl.DataFrame(
        {
            "lab_id": _ids("L", len(_YUCI_LABS), 2),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "tubes_per_hour": np.asarray([lab[3] for lab in _YUCI_LABS], dtype=np.int64),
            "open_from": ["00:00"] * len(_YUCI_LABS),
            "open_to": ["24:00"] * len(_YUCI_LABS),
            "name": [lab[0] for lab in _YUCI_LABS],
        }
    )
    base = np.asarray([v[0] for v in _YUCI_VEHICLES], dtype=np.int64)
    vehicles = pl.DataFrame(
        {
            "vehicle_id": _ids("V", len(_YUCI_VEHICLES), 2),
            "lat": np.round(lat[base], 6),
            "lon": np.round(lon[base], 6),
            "capacity_tubes": np.asarray([v[1] for v in _YUCI_VEHICLES], dtype=np.int64),
            "available_from": [v[2] for v in _YUCI_VEHICLES],
            "available_to": [v[3] for v in _YUCI_VEHICLES],
            "name": [f"转运车{k + 1}" for k in range(len(_YUCI_VEHICLES))],
        }
    )
    return labs, vehicles


def write_yuci_street(out_dir: Path | str, *, overwrite: bool = False) -> GenerateSummary:
    """Write the ``yuci-street`` example (CSV, with its README) to ``out_dir``."""
    district = yuci_street()
    b, t, h = district.buildings, district.teams, district.home_visits
    medical = t.filter(~pl.col("home_visit"))
    residents = int(b["residents"].sum())
    elderly = int(b["elderly"].sum())
    readme = YUCI_README.format(
        total=residents,
        buildings=b.height,
        compounds=b["compound"].n_unique(),
        grids=district.grids.height,
        hv_other=h.height - _COMMUNITY_HOME_VISITS,
        hv_total=h.height,
        teams=medical.height,
        samplers=int(medical["samplers"].sum()),
        norm=residents / 360,
        hv_teams=t.height - medical.height,
        yellow=int(b["yellow_code"].sum()),
        elderly=elderly,
        elderly_share=elderly / residents,
        lat=YUCI_STREET_LAT,
        lon=YUCI_STREET_LON,
    )
    return write_district(district, Path(out_dir), overwrite=overwrite, readme=readme)
