"""The latest topics run as the web page shows it: each topic with its items and, per
item, the first moment its transcript says one of the topic's keywords.

Nothing is computed here but the moments: the topics come from the latest ``vidpipe
topics`` run (:func:`vidpipe.library.understanding.latest_topics`).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = ["topics_view"]


def _moment(catalog: Catalog, media_id: int, keywords: list[str]) -> dict[str, Any] | None:
    """``{"start", "keyword"}``: the first segment (seconds) of the item's latest
    transcript whose text holds a keyword (case-insensitive), or None."""
    tr = catalog.get_transcript(media_id)
    if tr is None:
        return None
    words = [k.strip().lower() for k in keywords if k and k.strip()]
    for seg in tr.segments:
        text = seg.text.lower()
        for k in words:
            if k in text:
                return {"start": seg.start, "keyword": k}
    return None


def topics_view(catalog: Catalog) -> list[dict[str, Any]]:
    """The latest topics: ``[{id, name, keywords, items: [{media_id, name, moment}]}]``
    (``name`` an item's file name; ``moment`` from :func:`_moment`); empty when topics
    were never computed. Items no longer in the catalog are left out."""
    from vidpipe.library.understanding import latest_topics

    out = []
    for t in latest_topics(catalog):
        items = []
        for mid in t.media_ids:
            media = catalog.get_media(mid)
            if media is None:
                continue
            items.append(
                {
                    "media_id": mid,
                    "name": PurePath(media.path).name,
                    "moment": _moment(catalog, mid, [*t.keywords, t.name]),
                }
            )
        out.append({"id": t.id, "name": t.name, "keywords": list(t.keywords), "items": items})
    return out
