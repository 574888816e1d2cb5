"""Vehicle sheets (``vehicles/<vehicle_id>.html``): each pickup vehicle's trips of the day.

One page per vehicle of the scenario, in the plan's language, from the saved
``transport_trips`` table: the vehicle's depot, capacity and hours, its trips, tubes carried and
driving-and-handling time, then every trip as a list of stops in order — time at the stop,
pick up at which point (name, id, position) or unload at which lab, tubes, and tubes on board
after the stop. Readable on a phone (the shared stylesheet turns every row into a card) and
printable on A4. Every value is escaped by ``sampling/templates/vehicle.html``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sampling.documents.html import fill, fmt_int, label_namespace, named, page_context, template
from sampling.files.names import file_stems
from sampling.output.schemas import read_output
from sampling.scenario.model import Scenario

TRIPS_FILE = "transport_trips.parquet"

Stop = tuple[str, str, str, str, str, str]
"""time span, action, place name, place detail (id · position), tubes, tubes on board"""


def vehicle_paths(scenario: Scenario) -> dict[str, str]:
    """Vehicle id → ``vehicles/<safe name>.html`` (safe file names, see ``sampling.files``)."""
    if scenario.vehicles is None:
        return {}
    ids = [str(v) for v in scenario.vehicles["vehicle_id"].to_list()]
    return {vid: f"vehicles/{stem}.html" for vid, stem in file_stems(ids).items()}


def vehicle_links(
    out_dir: Path, scenario: Scenario, lab: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(path, text)`` of every vehicle sheet, for the index (none without transport)."""
    if not (Path(out_dir) / TRIPS_FILE).exists():
        return []
    return [
        (path, f"{lab['vehicle_links']} {vid}")
        for vid, path in sorted(vehicle_paths(scenario).items())
    ]


def _coord(lat: float, lon: float, planar: bool) -> str:
    return "" if planar else f"{lat:.6f}, {lon:.6f}"


def vehicle_pages(
    out_dir: Path, scenario: Scenario, lab: Mapping[str, str], lang: str
) -> dict[str, str]:
    """``vehicles/<id>.html`` → page text for every vehicle, when the plan has transport."""
    if scenario.vehicles is None or scenario.labs is None:
        return {}
    saved = read_output(Path(out_dir), TRIPS_FILE.removesuffix(".parquet"), required=False)
    if saved is None:
        return {}
    trips = saved.sort("vehicle_id", "trip", "seq")
    header = scenario.header
    planar = header.coordinates == "planar"
    points = scenario.points
    point_name = dict(
        zip(
            points["point_id"].to_list(),
            (points["name"] if "name" in points.columns else points["point_id"]).to_list(),
            strict=True,
        )
    )
    labs = scenario.labs
    lab_name = dict(
        zip(
            labs["lab_id"].to_list(),
            (labs["name"] if "name" in labs.columns else labs["lab_id"]).to_list(),
            strict=True,
        )
    )
    page = template("vehicle.html")
    names = label_namespace(lab)
    rules = fill(
        lab["vehicle_rules"],
        interval=f"{header.transport.pickup_interval_max_min:g}",
        age=f"{header.transport.max_tube_age_min:g}",
    )
    by_vehicle = {str(k[0]): rows for k, rows in trips.group_by("vehicle_id", maintain_order=True)}
    paths = vehicle_paths(scenario)
    pages: dict[str, str] = {}
    for vehicle in scenario.vehicles.iter_rows(named=True):
        vid = str(vehicle["vehicle_id"])
        name = named(vehicle.get("name"), vid)
        rows = by_vehicle.get(vid)
        trip_list: list[tuple[str, list[Stop]]] = []
        tubes = 0
        if rows is not None:
            for (number,), trip in rows.group_by("trip", maintain_order=True):
                stops: list[Stop] = []
                for stop in trip.iter_rows(named=True):
                    pickup = stop["kind"] == "pickup"
                    ident = stop["point_id"] if pickup else stop["lab_id"]
                    place = (point_name if pickup else lab_name).get(ident)
                    detail = " · ".join(
                        x for x in (str(ident), _coord(stop["lat"], stop["lon"], planar)) if x
                    )
                    stops.append(
                        (
                            f"{stop['arrive']}–{stop['depart']}",
                            lab["vehicle_pickup"] if pickup else lab["vehicle_unload"],
                            str(place or ident),
                            detail,
                            fmt_int(stop["tubes"]),
                            fmt_int(stop["load"]),
                        )
                    )
                    if not pickup:
                        tubes += int(stop["tubes"])
                trip_list.append((fill(lab["vehicle_trip"], trip=number), stops))
        depot = _coord(vehicle.get("lat") or 0.0, vehicle.get("lon") or 0.0, planar)
        if planar:
            depot = f"x {vehicle['x']:.0f} m, y {vehicle['y']:.0f} m"
        pages[paths[vid]] = page.render(
            page_context(
                header, lab, lang, title=name, heading=fill(lab["vehicle_heading"], name=name)
            ),
            lab=names,
            v={
                "depot": depot,
                "capacity": fmt_int(vehicle["capacity_tubes"]),
                "hours": f"{_hhmm(vehicle['available_from'])}–{_hhmm(vehicle['available_to'])}",
                "trips": fmt_int(len(trip_list)),
                "tubes": fmt_int(tubes),
                "span": (f"{rows['arrive'][0]}–{rows['depart'][-1]}" if rows is not None else ""),
            },
            rules=rules,
            trips=trip_list,
        )
    return pages


def _hhmm(minutes: int) -> str:
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"
