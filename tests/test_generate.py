"""The synthetic district generator and the example scenarios (yuci-street, tiny)."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.cli import main
from sampling.files.ownership import MARKER, OutputFolderError
from sampling.generate import (
    CENTRE_LAT,
    CENTRE_LON,
    REACH_M,
    District,
    generate_district,
    synthesise_district,
    write_yuci_street,
)
from sampling.scenario.loader import load_scenario
from sampling.scenario.model import project

ROOT = Path(__file__).resolve().parents[1]
YUCI = ROOT / "scenarios" / "yuci-street"
TINY = ROOT / "scenarios" / "tiny"
TABLES = ("buildings", "points", "teams", "home_visits", "grids", "labs", "vehicles")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def check_invariants(d: District, residents: int) -> None:
    """Properties every generated district has, whatever its size and seed."""
    b, p, t, h, g = d.buildings, d.points, d.teams, d.home_visits, d.grids
    assert int(b["residents"].sum()) == residents
    assert (b["residents"] >= 0).all()
    assert (b["yellow_code"] >= 0).all() and (b["yellow_code"] <= b["residents"]).all()
    assert (b["elderly"] >= 0).all() and (b["elderly"] <= b["residents"]).all()
    for frame, key in ((b, "building_id"), (p, "point_id"), (t, "team_id"), (g, "grid_id")):
        assert frame[key].is_unique().all(), key
    assert h["household_id"].is_unique().all()
    assert b["grid_id"].is_in(g["grid_id"].implode()).all()
    assert set(g["grid_id"]) == set(b["grid_id"])  # no empty grids
    # coordinates near Yuci
    for frame in (b, p):
        assert frame["lat"].is_between(CENTRE_LAT - 0.3, CENTRE_LAT + 0.3).all()
        assert frame["lon"].is_between(CENTRE_LON - 0.4, CENTRE_LON + 0.4).all()
    # points
    assert p["max_tables"].is_between(4, 10).all()
    assert set(p["status"]) <= {"candidate", "required", "closed"}
    assert (p["status"] != "closed").any()
    assert d.max_open_points >= max(1, int((p["status"] == "required").sum()))
    # teams: medical 8–40 samplers, home-visit teams of 2, hours in order
    medical = t.filter(~pl.col("home_visit"))
    assert medical.height >= 1 and medical["samplers"].is_between(8, 40).all()
    assert (t.filter(pl.col("home_visit"))["samplers"] == 2).all()
    assert (t["available_from"] < t["available_to"]).all()  # HH:MM compares as text
    assert medical["available_from"].is_between("06:00", "10:30").all()
    # two shifts: the morning shift is on site by the 07:00 opening
    on_site = medical.filter(pl.col("available_from") <= "07:00").height
    assert on_site >= max(1, round(0.6 * medical.height))
    assert medical["available_to"].is_between("14:00", "20:00").all()
    # home visits: known buildings, 1–2 persons, persons per building ≤ residents
    assert h["building_id"].is_in(b["building_id"].implode()).all()
    assert h["persons"].is_between(1, 2).all()
    per_building = (
        h.group_by("building_id")
        .agg(pl.col("persons").sum())
        .join(b.select("building_id", "residents"), on="building_id")
    )
    assert (per_building["persons"] <= per_building["residents"]).all()
    assert (h["window_start"].is_null() == h["window_end"].is_null()).all()
    assert (h["window_start"] < h["window_end"]).fill_null(True).all()
    home_teams = t.height - medical.height
    assert home_teams == math.ceil(h.height / 35)


@settings(max_examples=25, deadline=None)
@given(residents=st.integers(1, 40_000), seed=st.integers(0, 2**32 - 1))
def test_invariants_for_any_size_and_seed(residents: int, seed: int) -> None:
    check_invariants(synthesise_district(residents, seed), residents)


def test_residents_must_be_positive() -> None:
    with pytest.raises(ValueError):
        synthesise_district(0, 1)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    a = generate_district(20_000, 7, tmp_path / "a", fmt=fmt)  # type: ignore[arg-type]
    b = generate_district(20_000, 7, tmp_path / "b", fmt=fmt)  # type: ignore[arg-type]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert a.buildings == b.buildings and a.out_dir == tmp_path / "a"
    assert set(_files(tmp_path / "a")) == {
        MARKER,
        "scenario.toml",
        *(f"{t}.{fmt}" for t in TABLES),
    }


def test_different_seeds_differ() -> None:
    one, two = synthesise_district(20_000, 1), synthesise_district(20_000, 2)
    for name in TABLES:
        assert not getattr(one, name).equals(getattr(two, name)), name


def test_norms_of_a_mid_sized_district() -> None:
    n = 300_000
    d = synthesise_district(n, 11)
    b, p, t, h = d.buildings, d.points, d.teams, d.home_visits
    assert 70 <= n / b.height <= 130  # ≈ 100 residents per building
    assert 900 <= n / p.height <= 1_400  # candidates ≈ one per 1,000–1,300 residents
    required = int((p["status"] == "required").sum())
    closed = int((p["status"] == "closed").sum())
    assert 1 <= required <= 0.05 * p.height and 1 <= closed <= 0.05 * p.height
    assert d.max_open_points == round(n / 2_500)
    samplers = int(t.filter(~pl.col("home_visit"))["samplers"].sum())
    assert n / 360 * 1.02 <= samplers <= n / 360 * 1.25
    households = float((b["residents"] / 2.8).round().clip(1).sum())
    assert 0.017 <= h.height / households <= 0.021  # ≈ 2 % of households
    third = float(h["window_start"].is_not_null().mean())  # type: ignore[arg-type]
    assert 0.25 <= third <= 0.42
    assert abs(int(b["yellow_code"].sum()) - 0.005 * n) <= 0.001 * n
    yellow = b["yellow_code"].sort(descending=True).to_numpy()
    assert yellow[:20].sum() >= 0.4 * yellow.sum()  # concentrated in a few buildings
    assert 0.12 <= int(b["elderly"].sum()) / n <= 0.18
    by_compound = b.group_by("compound").agg(
        (pl.col("elderly").sum() / pl.col("residents").sum()).alias("share")
    )
    assert (by_compound["share"] > 0.6).any()  # one compound mostly elderly
    per_grid = b.group_by("grid_id").agg((pl.col("residents").sum() / 2.8).alias("hh"))
    assert 200 <= float(per_grid["hh"].median()) <= 500  # type: ignore[arg-type]
    # compact city, fringe hamlets out of reach, everything else within 15 minutes
    x, y = project(b["lat"].to_numpy(), b["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    radius = np.hypot(x, y)
    assert np.quantile(radius, 0.95) <= 5_500 * math.sqrt(n / 1e6) * 1.3
    usable = p.filter(pl.col("status") != "closed")
    px, py = project(usable["lat"].to_numpy(), usable["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    nearest = np.hypot(x[:, None] - px[None, :], y[:, None] - py[None, :]).min(axis=1)
    far = nearest > REACH_M
    assert 1 <= far.sum() <= 0.01 * b.height


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_scenario_validates(tmp_path: Path, fmt: str) -> None:
    summary = generate_district(30_000, 5, tmp_path / "s", fmt=fmt)  # type: ignore[arg-type]
    scenario = load_scenario(tmp_path / "s")
    assert scenario.header.name == "generated-30000-seed-5"
    assert scenario.header.coordinates == "wgs84"
    assert scenario.header.sampling.max_open_points == summary.max_open_points
    assert scenario.residents == 30_000 == summary.residents
    assert scenario.buildings.height == summary.buildings
    assert scenario.home_visits.height == summary.home_visit_households
    assert "30,000" in str(summary)


def test_csv_and_parquet_hold_the_same_tables(tmp_path: Path) -> None:
    generate_district(8_000, 3, tmp_path / "c", fmt="csv")
    generate_district(8_000, 3, tmp_path / "p", fmt="parquet")
    c, p = load_scenario(tmp_path / "c"), load_scenario(tmp_path / "p")
    for name in ("buildings", "points", "teams", "home_visits"):
        assert getattr(c, name).equals(getattr(p, name)), name


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("planner's notes")
    with pytest.raises(OutputFolderError):
        generate_district(1_000, 1, out)
    with pytest.raises(OutputFolderError):  # --overwrite is no way around the planner's files
        generate_district(1_000, 1, out, overwrite=True)
    assert _files(out) == {"keep.txt": b"planner's notes"}
    assert not [p for p in tmp_path.iterdir() if p.name != "out"]  # no temp folder left
    ours = tmp_path / "ours"
    generate_district(1_000, 1, ours)
    with pytest.raises(OutputFolderError):  # natplan's own folder needs --overwrite
        generate_district(1_000, 2, ours)
    generate_district(1_000, 2, ours, overwrite=True)
    assert "scenario.toml" in _files(ours)
    empty = tmp_path / "empty"
    empty.mkdir()
    generate_district(1_000, 1, empty)  # an empty folder is fine
    assert (empty / "buildings.csv").exists()


def test_cli_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["generate", "--residents", "5000", "--seed", "4", str(out)]) == 0
    assert "5,000" in capsys.readouterr().out
    assert load_scenario(out).residents == 5_000
    assert main(["generate", "--residents", "5000", "--seed", "4", str(out)]) == 2


def test_one_million_residents(tmp_path: Path) -> None:
    """A 1M district has the promised size (its speed: ``generate_s`` of ``bench/scale.py``)."""
    summary = generate_district(1_000_000, 1, tmp_path / "m")
    assert summary.residents == 1_000_000
    assert 8_000 <= summary.buildings <= 13_000
    assert summary.max_open_points == 400


# --------------------------------------------------------------------------- yuci-street


def test_yuci_street_is_rebuilt_byte_identically(tmp_path: Path) -> None:
    write_yuci_street(tmp_path / "y")
    assert _files(tmp_path / "y") == _files(YUCI)


def test_yuci_street_matches_the_seed_report() -> None:
    s = load_scenario(YUCI)
    b, p, t, h = s.buildings, s.points, s.teams, s.home_visits
    assert s.residents == 12 * 2_849
    assert p.height == 12 and int(p["max_tables"].sum()) == 78
    assert s.header.sampling.max_open_points == 12
    community = {
        "安宁小区",
        "纺织厂家属院",
        "铁路宿舍",
        "康乐苑",
        "锦绣花园",
        "和平小区",
        "供电局家属院",
        "新华苑",
        "粮站宿舍",
        "文苑小区",
        "朝阳小区",
        "东关片区",
    }
    inside = b.filter(pl.col("compound").is_in(list(community)))
    assert int(inside["residents"].sum()) == 4_600
    assert inside["compound"].n_unique() == 12  # 11 compounds + 1 shanty area
    assert h.filter(pl.col("building_id").is_in(inside["building_id"].implode())).height == 96
    elderly = b.filter(pl.col("compound") == "康乐苑")
    assert int(elderly["elderly"].sum()) > 0.6 * int(elderly["residents"].sum())
    samplers = int(t.filter(~pl.col("home_visit"))["samplers"].sum())
    assert s.residents / 360 <= samplers <= 1.2 * s.residents / 360
    assert t.filter(pl.col("home_visit")).height == math.ceil(h.height / 35)
    x, y = s.xy(b)
    px, py = s.xy(p)
    nearest = np.hypot(x[:, None] - px[None, :], y[:, None] - py[None, :]).min(axis=1)
    assert nearest.max() <= s.header.walking.straight_reach_m


# --------------------------------------------------------------------------- tiny


def _readme_facts() -> dict[str, str]:
    text = (TINY / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(.*?)```", text, re.S)
    assert block is not None
    return dict(line.split(": ", 1) for line in block.group(1).strip().splitlines())


def test_tiny_optimum_matches_the_hand_derivation() -> None:
    """Brute force over every whole-building assignment agrees with README.md."""
    s = load_scenario(TINY)
    header = s.header
    b = s.buildings
    p = s.points.filter(pl.col("status") != "closed")
    capacity = dict(zip(p["point_id"], p["max_tables"] * header.table_capacity, strict=True))
    bx, by = s.xy(b)
    px, py = s.xy(p)
    dist = np.hypot(bx[:, None] - px[None, :], by[:, None] - py[None, :])
    reach = header.walking.straight_reach_m
    home = s.home_visits.group_by("building_id").agg(pl.col("persons").sum())
    home_persons = dict(zip(home["building_id"], home["persons"], strict=True))
    walk_in = [
        r - home_persons.get(i, 0) for i, r in zip(b["building_id"], b["residents"], strict=True)
    ]
    options = [
        [j for j in range(p.height) if dist[i, j] <= reach] + [None] for i in range(b.height)
    ]
    best: tuple[int, float, tuple[int | None, ...]] | None = None
    for combo in itertools.product(*options):
        load = [0] * p.height
        cost, served = 0.0, 0
        for i, j in enumerate(combo):
            if j is not None:
                load[j] += walk_in[i]
                cost += walk_in[i] * dist[i, j]
                served += walk_in[i]
        if any(load[j] > capacity[p["point_id"][j]] for j in range(p.height)):
            continue
        key = (-served, cost, combo)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    _, straight, combo = best
    facts = _readme_facts()
    expected = dict(pair.split("=") for pair in facts["assignment"].split())
    got = {b["building_id"][i]: p["point_id"][j] for i, j in enumerate(combo) if j is not None}
    assert got == expected
    unserved = [b["building_id"][i] for i, j in enumerate(combo) if j is None]
    assert unserved == facts["unserved"].split()
    assert straight == pytest.approx(float(facts["straight_resident_metres"]))
    walking = straight * header.walking.detour_factor
    assert walking == pytest.approx(float(facts["walking_resident_metres"]))
    assert sum(w for w, j in zip(walk_in, combo, strict=True) if j is not None) == int(
        facts["served_residents"]
    )
    residents_unserved = sum(r for r, j in zip(b["residents"], combo, strict=True) if j is None)
    assert residents_unserved == int(facts["unserved_residents"])
    walk_in_unserved = sum(w for w, j in zip(walk_in, combo, strict=True) if j is None)
    assert walk_in_unserved == int(facts["unserved_walk_in"])
    loads = dict(pair.split("=") for pair in facts["load"].split())
    for point, value in loads.items():
        j = p["point_id"].to_list().index(point)
        assert sum(w for w, k in zip(walk_in, combo, strict=True) if k == j) == int(value)
