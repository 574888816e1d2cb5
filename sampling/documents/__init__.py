"""Human-facing documents of a plan: point sheets, grid call lists, team itineraries, workbook.

:func:`write_documents` (:mod:`~sampling.documents.write`) renders everything from a plan
folder: :mod:`~sampling.documents.points`, :mod:`~sampling.documents.grids`,
:mod:`~sampling.documents.teams`, :mod:`~sampling.documents.xlsx`, from the joined tables of
:mod:`~sampling.documents.data`. Pages are Jinja2 templates in ``sampling/templates/`` (a base
layout extended by ``index.html``, ``point.html``, ``grid.html`` and ``team.html``), rendered
with autoescape by :mod:`~sampling.documents.html`; labels come from :mod:`sampling.i18n`.
"""

from sampling.documents.write import DocumentsSummary, render_documents, write_documents

__all__ = ["DocumentsSummary", "render_documents", "write_documents"]
