"""Writing a plan: only into folders natplan owns, atomically, inside OUT.

:func:`write_plan` (:mod:`~sampling.output.write`) writes tables, summary, map and documents;
:mod:`~sampling.output.folder` decides which folders may be written, :mod:`~sampling.output.lock`
keeps one run per folder, :mod:`~sampling.output.atomic` swaps folders in whole,
:mod:`~sampling.output.filenames` turns ids into safe file names and
:mod:`~sampling.output.mapping` renders the map from the saved tables.
"""

from sampling.output.write import check_plan_folder, write_plan

__all__ = ["check_plan_folder", "write_plan"]
