"""natplan domain: scenario model, loading, validation, outputs and the CLI.

>>> from sampling import load_scenario
>>> scenario = load_scenario("scenarios/tiny")        # doctest: +SKIP
"""

from sampling.errors import Problem, ScenarioError
from sampling.scenario.header import Header
from sampling.scenario.loader import load_scenario
from sampling.scenario.model import Scenario
from sampling.scenario.writing import write_scenario

__all__ = ["Header", "Problem", "Scenario", "ScenarioError", "load_scenario", "write_scenario"]


def _version() -> str:
    """The installed distribution's version (``0+unknown`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("natplan")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
