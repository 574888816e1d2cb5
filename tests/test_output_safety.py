"""natplan never deletes what it did not write, writes only inside OUT, and stops on Ctrl-C.

The ``--out`` cases use real user files that must survive byte for byte.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.cli import main
from sampling.documents import write as documents_write
from sampling.documents.xlsx import EXCEL_CELL_CHARS, fit_cell
from sampling.files.atomic import STAGING_MARKER, clean_stale_siblings
from sampling.files.names import MAX_STEM_BYTES, file_stems, href, inside
from sampling.files.ownership import MARKER, OutputFolderError, check_writable
from sampling.output import write as output_write

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
NATPLAN = [sys.executable, "-m", "sampling.cli"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path → bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _plan(scenario: Path, out: Path, *extra: str) -> int:
    return main(["plan", str(scenario), "--out", str(out), "--time-limit", "2", *extra])


@pytest.fixture()
def district(tmp_path: Path) -> Path:
    """A parent folder holding the tiny scenario, a sibling district and user files."""
    root = tmp_path / "districts"
    shutil.copytree(TINY, root / "tiny")
    shutil.copytree(TINY, root / "sibling")
    (root / "thesis.docx").write_bytes(b"PK\x03\x04 my thesis")
    (root / ".bashrc").write_text("export PATH=$PATH:~/bin\n")
    return root


def test_plan_refuses_the_scenario_folder_and_its_parents(district: Path) -> None:
    before = _snapshot(district)
    assert _plan(district / "tiny", district / "tiny") == 2
    assert _plan(district / "tiny", district) == 2
    assert _plan(district / "tiny", district.parent) == 2
    assert _snapshot(district) == before
    assert sorted(p.name for p in district.parent.iterdir()) == ["districts"]  # no temp folder


def test_plan_refuses_a_folder_of_user_files(
    district: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = district.parent / "home"
    home.mkdir()
    (home / "thesis.docx").write_bytes(b"chapter 1")
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    before = _snapshot(home)
    assert _plan(district / "tiny", home) == 2
    assert "holds files natplan did not write" in capsys.readouterr().err
    assert _snapshot(home) == before


def test_plan_refuses_the_current_folder_root_and_files(
    district: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = district.parent / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _plan(district / "tiny", Path(".")) == 2
    assert _plan(district / "tiny", Path("..")) == 2
    assert _plan(district / "tiny", Path("/")) == 2
    assert _plan(district / "tiny", district / "thesis.docx") == 2
    link = district.parent / "link"
    link.symlink_to(work, target_is_directory=True)
    assert _plan(district / "tiny", link) == 2
    err = capsys.readouterr().err
    assert "the folder you are in" in err and "root of the file system" in err
    assert "not a folder" in err and "symbolic link" in err
    assert not [p for p in district.parent.iterdir() if p.name.startswith(".")]


def test_plan_replaces_its_own_plan_but_not_one_with_user_files(district: Path) -> None:
    out = district.parent / "out"
    assert _plan(district / "tiny", out) == 0
    marker = json.loads((out / MARKER).read_text("utf-8"))
    assert marker["kind"] == "plan" and "index.html" in marker["entries"]
    assert _plan(district / "tiny", out, "--lang", "en") == 0  # natplan's own: replaced
    assert 'lang="en"' in (out / "index.html").read_text("utf-8")
    (out / "points" / "notes.txt").write_text("call Dr. Wang at 7")
    before = _snapshot(out)
    assert _plan(district / "tiny", out) == 2
    assert _snapshot(out) == before


def test_a_plan_written_before_the_marker_is_recognised(district: Path) -> None:
    out = district.parent / "old-plan"
    assert _plan(district / "tiny", out) == 0
    (out / MARKER).unlink()  # as natplan 0.1 wrote it
    assert _plan(district / "tiny", out) == 0
    (out / MARKER).unlink()
    (out / "my-notes.md").write_text("keep me")
    assert _plan(district / "tiny", out) == 2
    assert (out / "my-notes.md").read_text() == "keep me"


def test_a_failed_write_keeps_the_earlier_plan(
    district: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = district.parent / "out"
    assert _plan(district / "tiny", out) == 0
    before = _snapshot(out)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(output_write, "write_documents", disk_full)
    assert _plan(district / "tiny", out) == 2  # the machine's problem, not a bug
    assert "No space left on device" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["districts", "out"]


def test_unwritable_location_is_reported_before_solving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("sampling.files.ownership.tempfile.mkstemp", read_only)
    with pytest.raises(OutputFolderError, match="Read-only file system"):
        check_writable(tmp_path / "a" / "b")


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from sampling.files.lock import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_run_into_the_same_folder_is_refused(
    district: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = district.parent / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        assert _plan(district / "tiny", out) == 2
    finally:
        holder.kill()
        holder.wait()
    assert "another natplan run" in capsys.readouterr().err
    assert not out.exists()
    assert _plan(district / "tiny", out) == 0  # the lock went with its holder
    assert not (district.parent / ".out.lock").exists()


def test_stale_temporary_folders_are_cleaned_and_a_stranded_plan_restored(
    district: Path,
) -> None:
    out = district.parent / "out"
    assert _plan(district / "tiny", out) == 0
    plan_files = _snapshot(out)
    # a run killed between its two renames: the plan sits in .old/previous, OUT is missing
    stranded = district.parent / ".out.abcd1234.old"
    stranded.mkdir()
    out.rename(stranded / "previous")
    killed = district.parent / ".out.efgh5678.new"
    killed.mkdir()
    (killed / STAGING_MARKER).touch()
    (killed / "half.parquet").write_bytes(b"PAR1")
    lookalike = district.parent / ".out.zzzz9999.new"  # the user's own, same name pattern
    lookalike.mkdir()
    (lookalike / "diary.txt").write_text("mine")
    removed = clean_stale_siblings(out)
    assert sorted(p.name for p in removed) == sorted([killed.name, stranded.name])
    assert _snapshot(out) == plan_files
    assert (lookalike / "diary.txt").read_text() == "mine"


def test_generate_overwrite_is_no_way_around_user_files(tmp_path: Path) -> None:
    out = tmp_path / "scenario"
    out.mkdir()
    (out / "budget.xlsx").write_bytes(b"numbers")
    code = main(["generate", "--residents", "500", "--seed", "1", "--overwrite", str(out)])
    assert code == 2
    assert _snapshot(out) == {"budget.xlsx": b"numbers"}


# -- file names from ids ---------------------------------------------------------------------

AWKWARD_IDS = [
    "../../../../escape_grid",
    "一区/3网格",
    "网" * 100,
    "A#1",
    "a#1",
    "50%?x=1",
    "NUL",
    ".hidden",
    "tab\there",
]


def test_file_stems_are_safe_bounded_and_distinct_ignoring_case() -> None:
    stems = file_stems([*AWKWARD_IDS, "G1", "plain-id_2"])
    assert stems["G1"] == "G1" and stems["plain-id_2"] == "plain-id_2"
    assert len({s.casefold() for s in stems.values()}) == len(stems)
    for stem in stems.values():
        assert "/" not in stem and "\\" not in stem and "\x00" not in stem and "\t" not in stem
        assert not stem.startswith(".") and stem.split(".")[0].upper() != "NUL"
        assert len(stem.encode("utf-8")) <= MAX_STEM_BYTES
    assert file_stems(AWKWARD_IDS) == file_stems(list(reversed(AWKWARD_IDS)))  # stable


def test_inside_refuses_escapes(tmp_path: Path) -> None:
    assert inside(tmp_path, "grids/a.html") == tmp_path / "grids/a.html"
    with pytest.raises(ValueError):
        inside(tmp_path, "../x.html")
    assert href("grids/一区~1a2b.html") == "grids/%E4%B8%80%E5%8C%BA~1a2b.html"


def _with_ids(tmp_path: Path, grid_ids: list[str], point_ids: list[str]) -> Path:
    """The tiny scenario with its grid and point ids replaced."""
    scenario = tmp_path / "scenario"
    shutil.copytree(TINY, scenario)
    grids = dict(zip(["G1", "G2"], grid_ids, strict=True))
    points = dict(zip(["PA", "PB"], point_ids, strict=True))
    for table, column, mapping in (
        ("buildings", "grid_id", grids),
        ("grids", "grid_id", grids),
        ("points", "point_id", points),
    ):
        path = scenario / f"{table}.csv"
        frame = pl.read_csv(path, infer_schema=False)
        frame = frame.with_columns(pl.col(column).replace(mapping))
        frame.write_csv(path)
    return scenario


def _links_resolve(out: Path) -> list[str]:
    """Relative links of index.html that do not lead to a file inside ``out``."""
    page = (out / "index.html").read_text("utf-8")
    broken = []
    for target in re.findall(r'href="([^"]+)"', page):
        path = (out / unquote(target.replace("&amp;", "&"))).resolve()
        if not path.is_file() or out.resolve() not in path.parents:
            broken.append(target)
    return broken


def test_awkward_ids_plan_inside_out_with_working_links(tmp_path: Path) -> None:
    scenario = _with_ids(tmp_path, ["../../../../escape_grid", "一区/3网格"], ["A#1", "a#1"])
    out = tmp_path / "deep" / "er" / "out"
    assert _plan(scenario, out) == 0
    outside = [p for p in tmp_path.rglob("*escape_grid*") if out not in p.parents]
    assert outside == []
    assert _links_resolve(out) == []
    index = (out / "index.html").read_text("utf-8")
    assert "一区/3网格" in index and "A#1" in index and "a#1" in index
    assert len(list((out / "points").iterdir())) == 2  # A#1 and a#1 did not overwrite


def test_long_and_nul_ids_plan(tmp_path: Path) -> None:
    scenario = _with_ids(tmp_path, ["网" * 120, "G\x002"], ["P" * 300, "PB"])
    out = tmp_path / "out"
    code = _plan(scenario, out)
    assert code in (0, 2)  # a NUL may be refused as input, never a crash
    if code == 0:
        assert _links_resolve(out) == []


# -- other pages -----------------------------------------------------------------------------


def test_tile_attribution_cannot_inject_script(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _plan(TINY, out) == 0
    evil = "<img src=x onerror=alert(9)>"
    code = main(
        ["map", str(out), "--tile-url", "http://tiles.local/{z}/{x}/{y}.png",
         "--tile-attribution", evil]
    )  # fmt: skip
    assert code == 0
    page = (out / "map.html").read_text("utf-8")
    assert "<img src=x" not in page and "onerror=alert(9)>" not in page
    escaped = "&lt;img src=x onerror=alert(9)&gt;"
    assert escaped in page.replace("\\u0026", "&")  # JSON-encoded inside the script


def test_long_text_is_cut_visibly_for_excel() -> None:
    text = "注" * 40_000
    cell = fit_cell(text, "home_visits.parquet")
    assert len(cell) == EXCEL_CELL_CHARS
    assert cell.endswith("full text in home_visits.parquet]") and "40,000" in cell
    assert fit_cell("short", "x") == "short"


def test_documents_write_nothing_outside_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert _plan(TINY, out) == 0
    real = documents_write.render_documents

    def escaping(*args: object, **kwargs: object) -> dict[str, bytes]:
        files = real(*args, **kwargs)  # type: ignore[arg-type]
        files["../escaped.html"] = b"x"
        return files

    monkeypatch.setattr(documents_write, "render_documents", escaping)
    assert _plan(TINY, out) == 1  # a bug (a bad path), but nothing escaped
    assert not (tmp_path / "escaped.html").exists()


# -- Ctrl-C and killed runs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A district that takes several seconds to plan."""
    out = tmp_path_factory.mktemp("big") / "district"
    assert main(["generate", "--residents", "60000", "--seed", "1", str(out)]) == 0
    return out


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and signals")
def test_ctrl_c_stops_a_plan_within_seconds(big_district: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*NATPLAN, "plan", str(big_district), "--out", str(out), "--time-limit", "60"],
        stderr=subprocess.PIPE,
        text=True,
    )
    # the first stage line: the interpreter has started and the plan is under way (a fixed
    # sleep could end before the imports do on a loaded machine, and test nothing)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("scenario"), first
    time.sleep(1.0)
    assert proc.poll() is None, "the plan finished before it could be interrupted"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    err = first + err
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert stopped_after < 8.0, stopped_after
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


_POOL_SCRIPT = """
import os, sys, time
from solver.routing.portfolio import make_pool
from sampling.interrupt import interrupt_guard
try:
    with interrupt_guard(grace_s=1.0):
        with make_pool(1) as pool:
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 120).result()
except KeyboardInterrupt:  # as the CLI does
    sys.exit(130)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and signals")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_workers_die_with_their_parent(how: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _POOL_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    assert worker in _children(proc.pid)
    proc.send_signal(how)
    proc.wait(timeout=20)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)
    if how == signal.SIGINT:
        assert proc.returncode == 130


_ID = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=',"\r\n'),
    min_size=1,
    max_size=90,
)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(ids=st.lists(_ID, min_size=4, max_size=4, unique=True))
def test_fuzzed_ids_never_crash_a_plan(ids: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        scenario = _with_ids(tmp, ids[:2], ids[2:])
        out = tmp / "out"
        code = _plan(scenario, out)
        assert code in (0, 2)  # an id the loader rejects is an input error, never a crash
        if code == 0:
            assert _links_resolve(out) == []
            assert [p for p in tmp.iterdir() if p.name not in ("scenario", "out")] == []


def test_import_osm_refuses_a_named_pipe(tmp_path: Path) -> None:
    pipe = tmp_path / "streets.osm"
    os.mkfifo(pipe)
    assert main(["import-osm", str(pipe), "--out", str(tmp_path / "scenario")]) == 2


@pytest.mark.skipif(not os.path.ismount("/proc"), reason="needs /proc mounted")
def test_plan_refuses_a_mount_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan(TINY, Path("/proc")) == 2
    assert "mount point" in capsys.readouterr().err


def test_map_rerenders_only_natplan_plans(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _plan(TINY, out) == 0
    mine = tmp_path / "mine"
    shutil.copytree(out, mine)
    (mine / MARKER).unlink()
    (mine / "map.html").write_text("my own map")
    (mine / "notes.txt").write_text("mine")
    assert main(["map", str(mine)]) == 2
    assert (mine / "map.html").read_text() == "my own map"
    assert main(["map", str(out), "--lang", "en"]) == 0


def test_a_plan_of_another_version_is_a_planners_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved plan whose tables do not match this natplan (another version, or edited by
    hand) is refused with a message and exit 2 by the commands that read it, and left as is."""
    out = tmp_path / "out"
    assert _plan(TINY, out) == 0
    points = pl.read_parquet(out / "points.parquet")
    points.drop("stranded").write_parquet(out / "points.parquet")  # as an older natplan wrote it
    before = (out / "map.html").read_bytes()
    capsys.readouterr()
    assert main(["map", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not match the tables of this natplan version" in err and "stranded" in err
    assert "internal error" not in err
    assert (out / "map.html").read_bytes() == before
