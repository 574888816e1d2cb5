"""The loader: every kind of bad input gets a located problem, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampling import ScenarioError, load_scenario, write_scenario
from sampling.cli import main
from tests.scenario_strategies import scenario_tables, write_tables

BUILDINGS = "building_id,grid_id,x,y,residents\nb1,g1,0,0,100\nb2,g1,100,0,50\nb3,g2,200,50,30\n"
POINTS = "point_id,x,y,max_tables,status\np1,0,0,2,candidate\np2,300,0,3,required\n"
TEAMS = "team_id,samplers,available_from,available_to,x,y\nt1,4,07:00,14:00,0,0\n"
HOME = "household_id,building_id,persons\nh1,b1,2\n"
GRIDS = "grid_id,name\ng1,一\ng2,二\n"
HEADER = """name = "unit"
date = 2022-04-28
coordinates = "planar"

[tables]
home_visits = "home_visits.csv"
grids = "grids.csv"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A valid planar scenario folder to corrupt one file at a time."""
    root = tmp_path / "scn"
    root.mkdir()
    for name, text in {
        "scenario.toml": HEADER,
        "buildings.csv": BUILDINGS,
        "points.csv": POINTS,
        "teams.csv": TEAMS,
        "home_visits.csv": HOME,
        "grids.csv": GRIDS,
    }.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(root)
    return [str(p) for p in caught.value.problems]


def test_valid_folder_loads_with_fixed_dtypes(folder: Path) -> None:
    scenario = load_scenario(folder)
    assert scenario.buildings.schema["residents"] == pl.Int64
    assert scenario.teams.schema["available_from"] == pl.Int32
    assert scenario.teams["available_from"].to_list() == [420]
    assert scenario.points["status"].to_list() == ["candidate", "required"]
    assert scenario.buildings["yellow_code"].to_list() == [0, 0, 0]  # optional column defaulted
    assert scenario.residents == 180
    assert scenario.header.walking.limit_m == pytest.approx(1125.0)


def test_missing_folder_and_file(tmp_path: Path, folder: Path) -> None:
    assert "scenario folder not found" in problems_of(tmp_path / "nope")[0]
    (folder / "points.csv").unlink()
    found = problems_of(folder)
    assert found == ["points.csv: file not found — a file at " + str(folder / "points.csv")]


def test_empty_table(folder: Path) -> None:
    (folder / "points.csv").write_text("point_id,x,y,max_tables\n", encoding="utf-8")
    assert any("points.csv: table is empty" in p for p in problems_of(folder))


def test_missing_required_column_suggests_name(folder: Path) -> None:
    (folder / "buildings.csv").write_text(
        BUILDINGS.replace("residents", "residnets"), encoding="utf-8"
    )
    found = problems_of(folder)
    assert any(
        "buildings.csv::residents: missing required column" in p and "residnets" in p for p in found
    )


def test_every_bad_cell_is_listed_with_spreadsheet_rows(folder: Path) -> None:
    (folder / "buildings.csv").write_text(
        "building_id,grid_id,x,y,residents\n"
        "b1,g1,0,0,100\n"
        "b1,g1,abc,0,-5\n"  # row 3: duplicate id, unparsable x, negative residents
        "b3,g9,0,,2.5\n",  # row 4: unknown grid, missing y, fractional residents
        encoding="utf-8",
    )
    found = problems_of(folder)
    expected_fragments = [
        "buildings.csv:2:building_id: duplicate id (b1)",
        "buildings.csv:3:building_id: duplicate id (b1)",
        "buildings.csv:3:x: not a number (abc)",
        "buildings.csv:3:residents: too small (-5)",
        "buildings.csv:4:y: missing value (empty)",
        "buildings.csv:4:residents: not a whole number (2.5)",
        "buildings.csv:4:grid_id: unknown grid (g9)",
    ]
    for fragment in expected_fragments:
        assert any(p.startswith(fragment) for p in found), (fragment, found)


def test_coordinates_out_of_range(folder: Path) -> None:
    text = (folder / "scenario.toml").read_text().replace('"planar"', '"wgs84"')
    (folder / "scenario.toml").write_text(text)
    (folder / "buildings.csv").write_text(
        "building_id,grid_id,lat,lon,residents\nb1,g1,95,112,10\nb2,g1,37.7,-190,10\nb3,g1,,112,1\n"
    )
    (folder / "points.csv").write_text("point_id,lat,lon,max_tables\np1,37.7,112.7,1\n")
    (folder / "teams.csv").write_text(
        "team_id,samplers,available_from,available_to,lat,lon\nt1,1,07:00,09:00,37.7,112.7\n"
    )
    found = problems_of(folder)
    assert any(p.startswith("buildings.csv:2:lat: out of range (95)") for p in found)
    assert any(p.startswith("buildings.csv:3:lon: out of range (-190)") for p in found)
    assert any(p.startswith("buildings.csv:4:lat: missing value") for p in found)


def test_home_visits_cross_checks(folder: Path) -> None:
    (folder / "home_visits.csv").write_text(
        "household_id,building_id,persons\nh1,b3,20\nh2,b3,20\nh3,bX,1\nh4,b1,0\n"
    )
    found = problems_of(folder)
    assert any(p.startswith("home_visits.csv:2:persons: home-visit persons exceed") for p in found)
    assert any(p.startswith("home_visits.csv:4:building_id: unknown building (bX)") for p in found)
    assert any(p.startswith("home_visits.csv:5:persons: too small (0)") for p in found)


def test_points_and_teams_rules(folder: Path) -> None:
    (folder / "points.csv").write_text("point_id,x,y,max_tables,status\np1,0,0,0,open\n")
    (folder / "teams.csv").write_text(
        "team_id,samplers,available_from,available_to,x,y\nt1,4,14:00,07:00,0,0\nt2,2,7am,09:00,0,0\n"
    )
    found = problems_of(folder)
    assert any(p.startswith("points.csv:2:max_tables: too small (0)") for p in found)
    assert any(p.startswith("points.csv:2:status: unknown status (open)") for p in found)
    assert any(
        p.startswith("teams.csv:2:available_to: not after available_from (07:00)") for p in found
    )
    assert any(p.startswith("teams.csv:3:available_from: not a time of day (7am)") for p in found)


def test_malformed_toml_gives_line(folder: Path) -> None:
    (folder / "scenario.toml").write_text(
        'name = "x"\ndate = 2022-04-28\n[window\nstart = "07:00"\n'
    )
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("scenario.toml:3: malformed TOML")


def test_unknown_header_key_is_a_typo(folder: Path) -> None:
    text = HEADER + "\n[walking]\nlimit_mins = 20\n"
    (folder / "scenario.toml").write_text(text)
    found = problems_of(folder)
    assert found[0].startswith("scenario.toml:10:walking.limit_mins: unknown key (likely a typo)")
    assert "did you mean 'limit_min'" in found[0]


def test_bad_header_value(folder: Path) -> None:
    (folder / "scenario.toml").write_text(HEADER + '\n[window]\nstart = "25:00"\n')
    found = problems_of(folder)
    assert found[0].startswith("scenario.toml:10:window.start:")


def test_gb18030_and_bom_csv_are_read(folder: Path) -> None:
    (folder / "grids.csv").write_bytes("grid_id,name\ng1,第一网格\ng2,第二网格\n".encode("gb18030"))
    (folder / "buildings.csv").write_bytes(b"\xef\xbb\xbf" + BUILDINGS.encode())
    scenario = load_scenario(folder)
    assert scenario.grids is not None
    assert scenario.grids["name"].to_list() == ["第一网格", "第二网格"]
    assert scenario.buildings.height == 3


def test_undecodable_csv_says_which_encoding(folder: Path) -> None:
    (folder / "grids.csv").write_bytes(b"grid_id,name\ng1,\x81\x20\xff\xfe\n")
    found = problems_of(folder)
    assert any(p.startswith("grids.csv:2:name: cannot decode") and "UTF-8" in p for p in found)


def test_cli_exit_codes_and_no_traceback(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "residents 180" in out and "ok: the scenario is valid" in out
    (folder / "teams.csv").write_text("team_id\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "teams.csv" in err


def test_every_table_problem_is_reported_at_once(folder: Path) -> None:
    (folder / "points.csv").write_text("point_id,x,y,max_tables\np1,0,0,0\n")
    (folder / "teams.csv").write_text(
        "team_id,samplers,available_from,available_to,x,y\nt1,0,07:00,08:00,0,0\n"
    )
    found = problems_of(folder)
    assert any(p.startswith("points.csv") for p in found)
    assert any(p.startswith("teams.csv") for p in found)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tables=scenario_tables(), coordinates=st.sampled_from(["wgs84", "planar"]))
def test_generated_scenarios_load_and_round_trip(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pl.DataFrame], coordinates: str
) -> None:
    if coordinates == "planar":
        tables = {
            name: frame.rename({"lat": "y", "lon": "x"}, strict=False)
            for name, frame in tables.items()
        }
    root = write_tables(tmp_path_factory.mktemp("gen"), tables, coordinates=coordinates)
    scenario = load_scenario(root)
    assert scenario.buildings.height == tables["buildings"].height
    assert scenario.residents == int(tables["buildings"]["residents"].sum())
    as_parquet = write_scenario(scenario, root.parent / "pq", fmt="parquet", overwrite=True)
    back = load_scenario(as_parquet)
    as_csv = write_scenario(back, root.parent / "csv", fmt="csv", overwrite=True)
    again = load_scenario(as_csv)
    for name in ("buildings", "points", "teams", "home_visits"):
        assert getattr(back, name).equals(getattr(scenario, name)), name
        assert getattr(again, name).equals(getattr(scenario, name)), name
    assert back.header == scenario.header.model_copy(update={"tables": back.header.tables})


CORRUPTIONS = st.sampled_from(
    ["cell", "drop_column", "truncate", "bytes", "duplicate_row", "header"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tables=scenario_tables(),
    table=st.sampled_from(["buildings", "points", "teams", "home_visits", "grids", "scenario"]),
    corruption=CORRUPTIONS,
    junk=st.text(max_size=12),
    data=st.data(),
)
def test_random_corruption_raises_only_scenario_error(
    tmp_path_factory: pytest.TempPathFactory,
    tables: dict[str, pl.DataFrame],
    table: str,
    corruption: str,
    junk: str,
    data: st.DataObject,
) -> None:
    root = write_tables(tmp_path_factory.mktemp("bad"), tables)
    path = root / ("scenario.toml" if table == "scenario" else f"{table}.csv")
    raw = path.read_bytes()
    lines = raw.decode("utf-8").splitlines()
    if corruption == "cell" and len(lines) > 1:
        row = data.draw(st.integers(0, len(lines) - 1))
        cells = lines[row].split(",")
        cells[data.draw(st.integers(0, len(cells) - 1))] = junk.replace("\n", " ")
        lines[row] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif corruption == "drop_column" and table != "scenario":
        frame = pl.read_csv(path, infer_schema=False)
        frame.drop(frame.columns[data.draw(st.integers(0, frame.width - 1))]).write_csv(path)
    elif corruption == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
    elif corruption == "bytes":
        position = data.draw(st.integers(0, len(raw)))
        noise = data.draw(st.binary(min_size=1, max_size=8))
        path.write_bytes(raw[:position] + noise + raw[position:])
    elif corruption == "duplicate_row" and len(lines) > 1:
        path.write_text("\n".join([*lines, lines[-1]]) + "\n", encoding="utf-8")
    else:
        path.write_text(junk, encoding="utf-8")
    try:
        load_scenario(root)
    except ScenarioError as error:
        assert error.problems, "a ScenarioError must carry at least one problem"
        assert all(p.file for p in error.problems)
    shutil.rmtree(root)
