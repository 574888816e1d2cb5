"""Hostile or odd input files: every problem located (file:row:column), never a hang or misread."""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sampling import ScenarioError, load_scenario
from sampling.cli import main
from sampling.scenario import reading
from sampling.scenario.norms import RESIDENTS_PER_BUILDING_MAX, summarise
from sampling.scenario.parsing import MAX_COUNT

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
HEADER_ROW = "building_id,grid_id,x,y,residents,yellow_code,elderly,name,compound"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the tiny scenario to damage one file at a time."""
    return Path(shutil.copytree(TINY, tmp_path / "tiny"))


def problems_of(root: Path) -> list[str]:
    """The located problems of loading ``root``, as the CLI prints them."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(root)
    return [str(p) for p in caught.value.problems]


def buildings_lines(root: Path) -> list[str]:
    return (root / "buildings.csv").read_text(encoding="utf-8").splitlines()


def write_buildings(root: Path, lines: list[str], end: str = "\n") -> None:
    (root / "buildings.csv").write_bytes((end.join(lines) + end).encode("utf-8"))


def set_table(root: Path, table: str, path: str) -> None:
    """Point ``[tables] table`` of the header at ``path``."""
    header = root / "scenario.toml"
    text = header.read_text(encoding="utf-8")
    old = f'{table} = "{table}.csv"'
    assert old in text
    header.write_text(text.replace(old, f'{table} = "{path}"'), encoding="utf-8")


# 1. duplicate column names


def test_duplicate_csv_column_is_rejected_with_its_number(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[0] += ",elderly"
    lines[1:] = [line + ",99" for line in lines[1:]]
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert found == [
        "buildings.csv:1:10: duplicate column name (elderly)"
        " — each column name once; column 7 is also 'elderly'"
    ]


def test_duplicate_after_trimming_is_rejected(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[0] = lines[0].replace("name,compound", " elderly ,name")
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith("buildings.csv:1:8: duplicate column name (' elderly ')")
    assert "column 7 is also 'elderly'" in found[0]


def test_unnamed_empty_columns_are_not_duplicates(folder: Path) -> None:
    write_buildings(folder, [line + ",," for line in buildings_lines(folder)])
    scenario = load_scenario(folder)
    assert scenario.buildings["elderly"].to_list()[:2] == [40, 35]


def _buildings_parquet(folder: Path, names: list[str]) -> None:
    frame = pl.read_csv(folder / "buildings.csv", infer_schema=False)
    columns = [*frame.get_columns(), frame["elderly"].alias("copy")]
    table = pa.table([c.to_arrow() for c in columns], names=names)
    pq.write_table(table, folder / "buildings.parquet")
    set_table(folder, "buildings", "buildings.parquet")


def test_duplicate_parquet_column_is_rejected(folder: Path) -> None:
    names = [*HEADER_ROW.split(","), "elderly"]
    _buildings_parquet(folder, names)
    found = problems_of(folder)
    assert found == [
        "buildings.parquet:1:10: duplicate column name (elderly)"
        " — each column name once; column 7 is also 'elderly'"
    ]


def test_duplicate_parquet_column_after_trimming_is_rejected(folder: Path) -> None:
    names = [*HEADER_ROW.split(","), "elderly "]
    _buildings_parquet(folder, names)
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith(
        "buildings.parquet:1:10: duplicate column name ('elderly ')"
    )


# 2. CSV structure errors name the row and column


def test_unquoted_comma_names_row_and_column(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[3] = lines[3].replace("东苑1号楼", "东苑1号楼, 北门")  # spreadsheet row 4
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith(
        "buildings.csv:4:10: more cells than the header row has columns (东苑) — 9 cells"
    )


def test_unterminated_quote_names_row_and_column(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[3] = lines[3].replace("东苑1号楼", '"东苑1号楼')
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith('buildings.csv:4:name: unterminated quote ("东苑1号楼,东苑)')


def test_text_after_closing_quote_names_row_and_column(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[5] = lines[5].replace("东苑3号楼", '"东苑3号楼" 北')  # row 6
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith("buildings.csv:6:name: text after the closing quote")


def test_quoted_cells_with_commas_and_newlines_still_read(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[1] = lines[1].replace("西院1号楼", '"西院1号楼, ""北""\n门"')
    write_buildings(folder, lines)
    scenario = load_scenario(folder)
    assert scenario.buildings["name"][0] == '西院1号楼, "北"\n门'
    assert scenario.buildings.height == 7


def test_undecodable_utf8_names_row_and_column(folder: Path) -> None:
    (folder / "grids.csv").write_bytes(
        "grid_id,name,leader\nG1,第1网格,王某某\n".encode() + b"G2,\xff\xfe,x\n"
    )
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith("grids.csv:3:name: cannot decode the file's text (0xff)")
    assert "UTF-8" in found[0]


def test_undecodable_gb18030_names_row_and_column(folder: Path) -> None:
    """A GBK file with one broken byte: located in GB18030, which reads furthest."""
    good = "grid_id,name,leader\nG1,第1网格,王某某\nG2,第2网格,".encode("gb18030")
    (folder / "grids.csv").write_bytes(good + b"\xff\n")
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith("grids.csv:3:leader: cannot decode the file's text (0xff)")


def test_truncated_utf16_names_row(folder: Path) -> None:
    raw = (folder / "grids.csv").read_text(encoding="utf-8").encode("utf-16")
    (folder / "grids.csv").write_bytes(raw + b"\x41")  # half a character at the end
    found = problems_of(folder)
    assert len(found) == 1
    assert found[0].startswith("grids.csv:4:grid_id: cannot decode the file's text (0x41)")


def test_cr_only_line_ends_are_read(folder: Path) -> None:
    expected = load_scenario(folder)
    write_buildings(folder, buildings_lines(folder), end="\r")
    (folder / "teams.csv").write_bytes((folder / "teams.csv").read_bytes().replace(b"\n", b"\r"))
    scenario = load_scenario(folder)
    assert scenario.buildings.equals(expected.buildings)
    assert scenario.teams.equals(expected.teams)


def test_cr_only_line_ends_keep_row_numbers(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[2] = lines[2].replace(",300,", ",-3,")  # row 3
    write_buildings(folder, lines, end="\r")
    assert problems_of(folder) == ["buildings.csv:3:residents: too small (-3) — a whole number ≥ 0"]


# 3. only regular files, and no more than a size limit


def _load_guarded(root: Path, pipe: Path) -> list[str]:
    """Problems of loading ``root``; fails (instead of hanging) if ``pipe`` gets opened."""
    outcome: list[list[str]] = []

    def run() -> None:
        try:
            load_scenario(root)
            outcome.append([])
        except ScenarioError as error:
            outcome.append([str(p) for p in error.problems])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # stuck in open(): a writer lets it go on to end of file
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(20)
        pytest.fail(f"the loader opened the named pipe {pipe}")
    return outcome[0]


def test_named_pipe_table_is_refused(folder: Path) -> None:
    pipe = folder / "buildings.csv"
    pipe.unlink()
    os.mkfifo(pipe)
    found = _load_guarded(folder, pipe)
    assert found == [f"buildings.csv: not a regular file (a named pipe) — a regular file at {pipe}"]


def test_named_pipe_outside_the_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "grids.csv"
    os.mkfifo(pipe)
    set_table(folder, "grids", str(pipe))
    found = _load_guarded(folder, pipe)
    assert len(found) == 1 and found[0].startswith(f"{pipe}: not a regular file (a named pipe)")


def test_named_pipe_header_is_refused(folder: Path) -> None:
    pipe = folder / "scenario.toml"
    pipe.unlink()
    os.mkfifo(pipe)
    found = _load_guarded(folder, pipe)
    assert found == [f"scenario.toml: not a regular file (a named pipe) — a regular file at {pipe}"]


def test_named_pipe_street_extract_is_refused(folder: Path) -> None:
    header = folder / "scenario.toml"
    text = header.read_text(encoding="utf-8").replace(
        'attribution = "synthetic"',
        'attribution = "synthetic"\ndistance = "street"\nosm_extract = "streets.osm.pbf"',
    )
    header.write_text(text, encoding="utf-8")
    pipe = folder / "streets.osm.pbf"
    os.mkfifo(pipe)
    found = _load_guarded(folder, pipe)
    assert found == [
        f"streets.osm.pbf: not a regular file (a named pipe) — a regular file at {pipe}"
    ]


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MiB table limit: if a device were read, the test fails fast instead of filling RAM."""
    monkeypatch.setattr(reading, "MAX_TABLE_BYTES", 1024**2)


@pytest.mark.usefixtures("small_limits")
def test_dev_zero_table_path_is_refused(folder: Path) -> None:
    set_table(folder, "buildings", "/dev/zero")
    found = problems_of(folder)
    assert found == ["/dev/zero: not a regular file (a device) — a regular file at /dev/zero"]


@pytest.mark.usefixtures("small_limits")
def test_symlink_to_dev_zero_is_refused(folder: Path) -> None:
    (folder / "zero.csv").symlink_to("/dev/zero")
    set_table(folder, "points", "zero.csv")
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("zero.csv: not a regular file (a device)")


def test_header_symlink_to_dev_zero_is_refused(folder: Path) -> None:
    (folder / "scenario.toml").unlink()
    (folder / "scenario.toml").symlink_to("/dev/zero")
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("scenario.toml: not a regular file (a device)")


@pytest.mark.usefixtures("small_limits")
def test_table_over_the_size_limit_is_refused(folder: Path) -> None:
    lines = buildings_lines(folder)
    filler = [f"B{k},G1,0,0,1,0,0,,," for k in range(8, 60_000)]
    write_buildings(folder, [*lines, *filler])
    size = (folder / "buildings.csv").stat().st_size
    assert size > 1024**2
    found = problems_of(folder)
    assert found == [
        f"buildings.csv: file too large ({size:,} bytes) — at most 1,048,576 bytes;"
        " is the path right?"
    ]


def test_header_over_the_size_limit_is_refused(folder: Path) -> None:
    header = folder / "scenario.toml"
    header.write_text(header.read_text() + "# padding\n" * 120_000, encoding="utf-8")
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("scenario.toml: file too large")


def test_bounded_read_stops_after_the_limit() -> None:
    """Even a file that grows past what ``stat`` said is read only to limit + 1 bytes."""
    with open("/dev/zero", "rb", buffering=0) as handle:
        assert len(reading._read_at_most(handle, 0, 1000)) == 1001
    with open("/dev/zero", "rb", buffering=0) as handle:
        assert len(reading._read_at_most(handle, 10, 1000)) == 1001


def test_folder_as_table_is_refused(folder: Path) -> None:
    (folder / "grids.csv").unlink()
    (folder / "grids.csv").mkdir()
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("grids.csv: is a folder")


# 4. required header keys


def test_missing_required_key_says_required(folder: Path) -> None:
    header = folder / "scenario.toml"
    header.write_text(header.read_text(encoding="utf-8").replace('name = "tiny"\n', ""))
    assert problems_of(folder) == ["scenario.toml::name: missing — required: add name = …"]


def test_bad_required_key_never_shows_pydantic_internals(folder: Path) -> None:
    header = folder / "scenario.toml"
    text = header.read_text(encoding="utf-8")
    header.write_text(
        text.replace('name = "tiny"', "name = 5").replace('date = "2022-04-28"', 'date = "soon"')
    )
    found = problems_of(folder)
    assert len(found) == 2
    assert found[0].startswith("scenario.toml:1:name:") and found[0].endswith(
        "required (no default)"
    )
    assert found[1].startswith("scenario.toml:2:date:") and found[1].endswith(
        "required (no default)"
    )
    assert not any("Pydantic" in p or "Undefined" in p for p in found)


def test_deeply_nested_toml_is_a_problem(folder: Path) -> None:
    header = folder / "scenario.toml"
    header.write_text(header.read_text() + "deep = " + "[" * 5000 + "]" * 5000 + "\n")
    found = problems_of(folder)
    assert len(found) == 1 and found[0].startswith("scenario.toml")


# 5. trailing blank rows


def test_trailing_blank_rows_are_skipped(folder: Path) -> None:
    expected = load_scenario(folder)
    blank = [",,,,,,,,", ",".join(['""'] * 9), "", " , ,", ",,,,,,,,"]
    write_buildings(folder, [*buildings_lines(folder), *blank])
    grids = (folder / "grids.csv").read_bytes()
    (folder / "grids.csv").write_bytes(grids + b",,\r\n,,\r\n")
    scenario = load_scenario(folder)
    assert scenario.buildings.equals(expected.buildings)
    assert scenario.grids is not None and expected.grids is not None
    assert scenario.grids.equals(expected.grids)


def test_only_blank_rows_is_an_empty_table(folder: Path) -> None:
    (folder / "points.csv").write_text("point_id,x,y,max_tables\n,,,\n,,,\n", encoding="utf-8")
    found = problems_of(folder)
    assert any(p.startswith("points.csv: table is empty") for p in found)


def test_blank_row_in_the_middle_is_still_reported(folder: Path) -> None:
    lines = buildings_lines(folder)
    write_buildings(folder, [*lines[:3], ",,,,,,,,", *lines[3:]])
    found = problems_of(folder)
    assert "buildings.csv:4:building_id: missing value (empty) — unique building id" in found
    assert all(p.startswith("buildings.csv:4:") for p in found)


# 6. implausible building sizes


def test_implausible_building_is_warned(folder: Path) -> None:
    lines = buildings_lines(folder)
    lines[1] = lines[1].replace(",350,", ",25000,")
    lines[2] = lines[2].replace(",300,", ",30000000,")  # below the scenario's total limit
    write_buildings(folder, lines)
    summary = summarise(load_scenario(folder))
    large = [w for w in summary.warnings if f"{RESIDENTS_PER_BUILDING_MAX:,} residents" in w]
    assert len(large) == 1
    assert large[0].startswith("2 buildings with more than 20,000 residents")
    assert "B2 (30,000,000), B1 (25,000)" in large[0]
    assert summary.residents == 30_000_000 + 25_000 + 1_130  # the other five buildings


def test_plausible_buildings_are_not_warned(folder: Path) -> None:
    summary = summarise(load_scenario(folder))
    assert not any("implausible" in w for w in summary.warnings)


@pytest.mark.parametrize("value", [str(MAX_COUNT + 1), "1000000000000", "1e300", "inf"])
def test_count_beyond_any_arithmetic_is_rejected(folder: Path, value: str) -> None:
    lines = buildings_lines(folder)
    lines[1] = lines[1].replace(",350,", f",{value},")
    write_buildings(folder, lines)
    found = problems_of(folder)
    assert found == [
        f"buildings.csv:2:residents: too large ({value}) — a whole number ≤ 1,000,000,000"
    ]


# every case via the CLI: exit code 2, no traceback


@pytest.mark.parametrize("case", ["duplicate", "comma", "pipe", "missing_key"])
def test_cli_reports_input_errors_with_exit_2(
    folder: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = buildings_lines(folder)
    if case == "duplicate":
        write_buildings(folder, [lines[0] + ",name", *(line + ",x" for line in lines[1:])])
        expected = "buildings.csv:1:10: duplicate column name (name)"
    elif case == "comma":
        write_buildings(folder, [*lines[:2], lines[2] + ",x", *lines[3:]])
        expected = "buildings.csv:3:10: more cells than the header row has columns (x)"
    elif case == "pipe":
        (folder / "teams.csv").unlink()
        os.mkfifo(folder / "teams.csv")
        expected = "teams.csv: not a regular file (a named pipe)"
    else:
        header = folder / "scenario.toml"
        header.write_text(header.read_text(encoding="utf-8").replace('date = "2022-04-28"', ""))
        expected = "scenario.toml::date: missing — required"
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and expected in err


def test_parquet_round_trip_still_reads(folder: Path) -> None:
    """Parquet tables are read through the bounded reader too."""
    frame = pl.read_csv(folder / "buildings.csv", infer_schema=False)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    (folder / "buildings.parquet").write_bytes(buffer.getvalue())
    expected = load_scenario(folder)
    set_table(folder, "buildings", "buildings.parquet")
    assert load_scenario(folder).buildings.equals(expected.buildings)


def test_more_residents_than_any_district_is_an_input_error(tmp_path: Path) -> None:
    import shutil

    import polars as pl

    from sampling.errors import ScenarioError
    from sampling.scenario.loader import MAX_SCENARIO_RESIDENTS, load_scenario

    root = tmp_path / "s"
    shutil.copytree(Path(__file__).resolve().parents[1] / "scenarios" / "tiny", root)
    frame = pl.read_csv(root / "buildings.csv", infer_schema=False)
    frame = frame.with_columns(pl.lit(str(MAX_SCENARIO_RESIDENTS // 2)).alias("residents"))
    frame.write_csv(root / "buildings.csv")
    with pytest.raises(ScenarioError, match="split a city into districts"):
        load_scenario(root)
