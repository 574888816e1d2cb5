"""``pip install .`` prints no warnings from natplan's own packaging, and ships every asset.

The wheel is built with ``pip wheel --no-deps`` from a copy of the project (the checkout stays
untouched) with the build backend's output shown (``-v``). Warnings of the backend
(setuptools' ``SetuptoolsDeprecationWarning``, ``… would be ignored``, distutils'
``warning:``) are the project's; pip's own ``WARNING:`` lines about the machine's package
indexes are not. Skipped only when the build backend cannot be installed (no index reachable).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "sampling", "solver", "maps")
PROJECT_WARNING = re.compile(r"[A-Za-z_]Warning\b|\bwarning:|would be ignored|^\s*!!\s*$")
"""A warning of the build backend (pip's own notices are ``WARNING:``, upper case)."""
OFFLINE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


def project_warnings(output: str) -> list[str]:
    """The lines of a build's output that are warnings from the project's packaging."""
    return [line for line in output.splitlines() if PROJECT_WARNING.search(line)]


def test_the_warning_filter_sees_setuptools_warnings() -> None:
    seen = """\
  /tmp/x/setuptools/config/_apply_pyprojecttoml.py:82: SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated
  !!
  /tmp/x/setuptools/command/build_py.py:212: _Warning: Package 'maps.assets.leaflet' is absent from the `packages` configuration.
          ############################
          # Package would be ignored #
  warning: no files found matching 'LICENSE'
"""
    not_ours = """\
  WARNING: Location 'file:///opt/pypi/simple/folium/' is ignored: it is neither a file nor a directory.
  copying sampling/labels/zh.toml -> build/lib/sampling/labels
"""
    assert len(project_warnings(seen)) == 5
    assert project_warnings(not_ours) == []


def test_wheel_builds_without_project_warnings(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=junk)
        else:
            shutil.copy2(path, src / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and any(text in output for text in OFFLINE):
        pytest.skip("the build backend (setuptools) cannot be installed here: no package index")
    assert proc.returncode == 0, output[-3000:]
    assert project_warnings(output) == [], "\n".join(project_warnings(output))
    wheels = list(dist.glob("natplan-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
    for needed in (
        "sampling/labels/zh.toml",
        "sampling/templates/base.html",
        "sampling/py.typed",
        "maps/assets/leaflet/leaflet.js",
    ):
        assert needed in names, needed
    assets = {n for n in names if n.startswith("maps/assets/")}
    shipped = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "maps" / "assets").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped <= assets
