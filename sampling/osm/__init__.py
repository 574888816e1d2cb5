"""Scenarios from OpenStreetMap extracts, read offline.

:func:`import_osm` (:mod:`~sampling.osm.importer`) writes a scenario folder;
:mod:`~sampling.osm.extract` streams streets out of ``.osm``/``.osm.bz2``/``.osm.pbf`` files and
:mod:`~sampling.osm.features` collects residential buildings and candidate sites.
"""

from sampling.osm.extract import OsmError
from sampling.osm.importer import ImportSummary, import_osm

__all__ = ["ImportSummary", "OsmError", "import_osm"]
