"""Human-facing documents of a plan: point sheets, grid call lists, team itineraries, workbook.

:func:`write_documents` (:mod:`~sampling.documents.write`) renders everything from a plan
folder: :mod:`~sampling.documents.points`, :mod:`~sampling.documents.grids`,
:mod:`~sampling.documents.teams`, :mod:`~sampling.documents.xlsx`, on the shared page helpers of
:mod:`~sampling.documents.html` and the joined tables of :mod:`~sampling.documents.data`.
"""

from sampling.documents.write import DocumentsSummary, render_documents, write_documents

__all__ = ["DocumentsSummary", "render_documents", "write_documents"]
