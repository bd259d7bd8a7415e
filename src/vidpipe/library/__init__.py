"""The library: storage and acquisition: a catalog of sources and media, downloads, reports, search.

The batch runner that fills it is :mod:`vidpipe.pipeline.runner` (the layer above).

Modules: :mod:`~vidpipe.library.catalog` (SQLAlchemy + Alembic; SQLite or PostgreSQL),
:mod:`~vidpipe.library.search` (FTS5 / PostgreSQL full text, Chinese via jieba),
:mod:`~vidpipe.library.ingest` (sources from URLs, link lists, files, folders),
:mod:`~vidpipe.library.report` (tables, CSV, JSON, duration plot),
:mod:`~vidpipe.library.status` (an item's status, derived from its jobs),
:mod:`~vidpipe.library.download` and :mod:`~vidpipe.library.urls` (downloads).

Example::

    from vidpipe.library import Catalog
    from vidpipe.library.search import search
    cat = Catalog()                                   # $VIDPIPE_HOME/catalog.db
    for hit in search(cat, "fellow Americans"):       # after `vidpipe run videos/`
        print(hit.path, hit.start, hit.snippet)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Catalog", "SearchHit"]

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.search import SearchHit

_LAZY = {
    "Catalog": "vidpipe.library.catalog",
    "SearchHit": "vidpipe.library.search",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidpipe.library' has no attribute {name!r}")
