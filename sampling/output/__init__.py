"""Writing a plan: only into folders natplan owns, atomically, inside OUT.

:func:`write_plan` (:mod:`~sampling.output.write`) writes tables, summary, map and documents;
:mod:`~sampling.files.ownership` decides which folders may be written, :mod:`~sampling.files.lock`
keeps one run per folder, :mod:`~sampling.files.atomic` swaps folders in whole,
:mod:`~sampling.files.names` turns ids into safe file names and
:mod:`~sampling.output.mapping` renders the map from the saved tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sampling.output.write import check_plan_folder, write_plan

__all__ = ["check_plan_folder", "write_plan"]


def __getattr__(name: str) -> Any:
    """The entry points, imported on first use: the documents read the output schemas
    (:mod:`~sampling.output.schemas`) and the writer renders the documents, so importing the
    writer with the package would close an import circle."""
    if name in __all__:
        from sampling.output import write

        return getattr(write, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
