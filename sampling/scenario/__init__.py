"""The scenario: its model, header, table schemas, loading, validation and writing.

:class:`Scenario` (:mod:`~sampling.scenario.model`) is the frozen input of every stage;
:class:`Header` (:mod:`~sampling.scenario.header`) is ``scenario.toml``;
:mod:`~sampling.scenario.tables` declares the tables' columns;
:func:`load_scenario` (:mod:`~sampling.scenario.loader`, reading files with
:mod:`~sampling.scenario.reading` and :mod:`~sampling.scenario.parsing`) checks everything and
lists every problem; :mod:`~sampling.scenario.norms` warns against the field norms;
:func:`write_scenario` (:mod:`~sampling.scenario.writing`) writes one back.
"""

from sampling.scenario.header import Header
from sampling.scenario.loader import load_scenario
from sampling.scenario.model import Scenario
from sampling.scenario.writing import write_scenario

__all__ = ["Header", "Scenario", "load_scenario", "write_scenario"]
