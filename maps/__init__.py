"""natplan rendering: offline HTML coverage maps."""

from maps.model import MapData, MapDataError
from maps.offline import ExternalResourceError
from maps.render import render_map, write_map

__all__ = ["ExternalResourceError", "MapData", "MapDataError", "render_map", "write_map"]
