"""Problems found in a scenario, and the one exception that carries all of them.

Loading never stops at the first problem: every check runs and each finding becomes a
:class:`Problem`, so a planner fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, located as a spreadsheet user would look for it.

    ``row`` is the line number a spreadsheet shows (the CSV header is row 1, so the first data
    row is row 2; for Parquet, the first record is row 2 too so both read the same). ``None``
    means the problem concerns the whole file or column.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    expected: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.column is not None:
            where += f":{self.column}" if self.row is not None else f"::{self.column}"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" ({self.value})"
        if self.expected is not None:
            text += f" — {self.expected}"
        return text


class ScenarioError(Exception):
    """A scenario could not be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.report())

    @classmethod
    def single(cls, file: str, message: str, value: str | None = None) -> ScenarioError:
        """An error with one problem (e.g. a bad command-line value)."""
        return cls([Problem(file, message, value=value)])

    def report(self) -> str:
        """All problems, one per line."""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])
