"""Writing a plan: only into folders natplan owns, atomically, inside OUT.

:func:`write_plan` (:mod:`~sampling.output.write`) writes tables, summary, map and documents;
:mod:`~sampling.files.ownership` decides which folders may be written, :mod:`~sampling.files.lock`
keeps one run per folder, :mod:`~sampling.files.atomic` swaps folders in whole,
:mod:`~sampling.files.names` turns ids into safe file names and
:mod:`~sampling.output.mapping` renders the map from the saved tables.
"""

from sampling.output.write import check_plan_folder, write_plan

__all__ = ["check_plan_folder", "write_plan"]
