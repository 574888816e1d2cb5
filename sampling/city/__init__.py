"""A whole city in one run, and what-if sweeps, on Dask distributed.

A *city* is a folder of district scenario folders (plus an optional ``city.toml`` of shared
header defaults). Each district — or each variant of a sweep — is one :class:`~sampling.city.
jobs.Job`: a few paths and header values, never a loaded scenario. A Dask worker loads the
scenario from its path, plans it with :func:`~sampling.stages.planning.plan_campaign` and
writes it with :func:`~sampling.output.write.write_plan` (ownership marker, lock, atomic swap)
exactly as ``natplan plan`` does; the client only reads the small results and the saved
``summary.json`` files. Modules:

* :mod:`~sampling.city.jobs` — the job description, its seed and input fingerprint;
* :mod:`~sampling.city.variants` — header layers (``city.toml``, ``--vary KEY=…``) and
  ``staff_ratio`` on a copy of a scenario;
* :mod:`~sampling.city.task` — what a worker runs for one job;
* :mod:`~sampling.city.cluster` — the Dask client (a LocalCluster or a scheduler address);
* :mod:`~sampling.city.folder` — the run's output folder: its marker, lock and finished jobs;
* :mod:`~sampling.city.runner` — submitting jobs, skipping finished ones, reporting progress;
* :mod:`~sampling.city.plan` — ``natplan plan-city``; :mod:`~sampling.city.outputs` and
  :mod:`~sampling.city.citymap` its summary, table, index page and map;
* :mod:`~sampling.city.generate` — ``natplan generate-city``;
* :mod:`~sampling.city.sweep` and :mod:`~sampling.city.charts` — ``natplan sweep``.
"""
