"""Safe file writing, shared by every writer (scenarios, plans): below the stages, above the OS.

:mod:`~sampling.files.ownership` decides which folders natplan may replace (its marker),
:mod:`~sampling.files.lock` keeps one run per folder, :mod:`~sampling.files.atomic` writes a
file or a whole folder at once, and :mod:`~sampling.files.names` turns ids into safe,
collision-free file names that never leave the output folder.
"""
