"""``natplan generate-city``: a synthetic city of adjacent districts (deterministic per seed).

Each district is a :func:`~sampling.generate.synthesise_district` of its share of the
residents (shares drawn 0.6–1.4 around the mean), with its own seed, then

* compressed around its centre by a factor drawn in 0.65–1.0, so the city has dense and less
  dense districts (density up to 2.4× the generator's; compression only brings buildings
  closer to their points, so every town building stays within walking reach);
* staffed at its own ratio of the norm's samplers (``staff_ratio`` drawn in 0.9–1.15, so some
  districts are short-staffed and show a deficit);
* moved so the districts sit side by side in rows (bounding boxes 300 m apart) — buildings,
  points, home-visit teams' clinics, and the district's labs and vehicle depots alike.

Labs and vehicles per district are the generator's (:func:`~sampling.generate.synthesise_district`:
lab capacity from the district's tubes, one vehicle per few open points), so a city district
is provisioned like a single generated district of its size.

The city folder holds ``city.toml`` (the city's name and date) and one scenario folder per
district, ``district-01`` …; it is written atomically and refuses to replace anything but a
generated folder (``--overwrite``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from sampling.files.atomic import atomic_dir
from sampling.files.ownership import check_output_folder
from sampling.generate import (
    CENTRE_LAT,
    CENTRE_LON,
    DATE,
    District,
    Format,
    synthesise_district,
    write_district,
)
from sampling.scenario.model import project, unproject

GAP_M = 300.0
"""Street between two adjacent districts' bounding boxes."""


@dataclasses.dataclass(frozen=True)
class CityDistrict:
    """What was generated for one district."""

    name: str
    residents: int
    seed: int
    staff_ratio: float
    density_factor: float


def _move(
    frame: pl.DataFrame, scale: float, dx: float, dy: float, mask: pl.Series | None = None
) -> pl.DataFrame:
    """``frame``'s lat/lon compressed by ``scale`` around the generator's centre, then moved
    by (dx, dy) metres (rows where ``mask`` is false stay where they are)."""
    if frame.height == 0:
        return frame
    x, y = project(frame["lat"].to_numpy(), frame["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    lat, lon = unproject(x * scale + dx, y * scale + dy, CENTRE_LAT, CENTRE_LON)
    keep = np.ones(frame.height, dtype=bool) if mask is None else mask.to_numpy()
    return frame.with_columns(
        pl.Series("lat", np.where(keep, np.round(lat, 6), frame["lat"].to_numpy())),
        pl.Series("lon", np.where(keep, np.round(lon, 6), frame["lon"].to_numpy())),
    )


def _extent(district: District, scale: float) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) in metres of the compressed district's buildings."""
    b = district.buildings
    x, y = project(b["lat"].to_numpy(), b["lon"].to_numpy(), CENTRE_LAT, CENTRE_LON)
    return (
        float(x.min()) * scale,
        float(y.min()) * scale,
        float(x.max()) * scale,
        float(y.max()) * scale,
    )


def plan_city_layout(residents: int, districts: int, seed: int) -> list[CityDistrict]:
    """Residents, seed, staffing and density of each district (deterministic per seed)."""
    if districts < 1 or residents < districts:
        raise ValueError("need at least one district and one resident per district")
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.6, 1.4, districts)
    quota = weights / weights.sum() * residents
    shares = np.floor(quota).astype(np.int64)
    left = int(residents - shares.sum())
    shares[np.argsort(-(quota - shares), kind="stable")[:left]] += 1
    shares = np.maximum(shares, 1)
    shares[np.argmax(shares)] -= int(shares.sum() - residents)
    seeds = rng.integers(0, 2**31 - 1, districts)
    ratios = np.round(rng.uniform(0.9, 1.15, districts), 2)
    density = np.round(rng.uniform(0.65, 1.0, districts), 2)
    width = len(str(districts)) if districts >= 100 else 2
    return [
        CityDistrict(
            f"district-{k + 1:0{width}d}",
            int(shares[k]),
            int(seeds[k]),
            float(ratios[k]),
            float(density[k]),
        )
        for k in range(districts)
    ]


def generate_city(
    residents: int,
    districts: int,
    seed: int,
    out_dir: Path,
    *,
    fmt: Format = "csv",
    overwrite: bool = False,
) -> list[CityDistrict]:
    """Write a city of ``districts`` adjacent generated districts with ``residents`` in all."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, kind="scenario", overwrite=overwrite)
    layout = plan_city_layout(residents, districts, seed)
    columns = max(1, math.ceil(math.sqrt(districts)))
    built: list[tuple[CityDistrict, District, tuple[float, float, float, float]]] = []
    for spec in layout:
        district = synthesise_district(spec.residents, spec.seed, staff_ratio=spec.staff_ratio)
        built.append((spec, district, _extent(district, spec.density_factor)))
    # Rows of ``columns`` districts: each column as wide as its widest, each row as tall as its
    # tallest; every district is placed with its box's lower-left corner at its cell's.
    widths = [0.0] * columns
    heights = [0.0] * math.ceil(districts / columns)
    for k, (_, _, (x0, y0, x1, y1)) in enumerate(built):
        widths[k % columns] = max(widths[k % columns], x1 - x0)
        heights[k // columns] = max(heights[k // columns], y1 - y0)
    name = f"generated-city-{residents}-seed-{seed}"
    with atomic_dir(out_dir, kind="scenario", overwrite=overwrite) as staging:
        (staging / "city.toml").write_text(
            f"name = {json.dumps(name)}\n"
            f"description = {json.dumps(f'{districts} generated districts, {residents:,} residents (natplan generate-city --residents {residents} --districts {districts} --seed {seed}); not real data', ensure_ascii=False)}\n"
            f"date = {DATE}\n",
            encoding="utf-8",
        )
        for k, (spec, district, (x0, y0, _, _)) in enumerate(built):
            col, row = k % columns, k // columns
            left = sum(widths[:col]) + GAP_M * col
            bottom = -(sum(heights[: row + 1]) + GAP_M * row)
            dx, dy = left - x0, bottom - y0
            scale = spec.density_factor
            home_team = district.teams["home_visit"]
            moved = dataclasses.replace(
                district,
                name=spec.name,
                description=(
                    f"District {k + 1} of {name}: {spec.residents:,} residents, density ×"
                    f"{1 / scale**2:.2f}, samplers {spec.staff_ratio:g} × residents ÷ 360."
                    " Synthetic; not real data."
                ),
                buildings=_move(district.buildings, scale, dx, dy),
                points=_move(district.points, scale, dx, dy),
                teams=_move(district.teams, scale, dx, dy, mask=home_team),
                # the district's own labs and vehicle depots move with it (left behind at the
                # generator's centre, they were 5–20 km from the district and most tubes late)
                labs=_move(district.labs, scale, dx, dy) if district.labs is not None else None,
                vehicles=(
                    _move(district.vehicles, scale, dx, dy)
                    if district.vehicles is not None
                    else None
                ),
            )
            write_district(moved, staging / spec.name, fmt=fmt)
    return layout
