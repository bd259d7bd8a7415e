"""A catalog item with a stored, diarized transcript, for the transcript-editing and
speaker tests (no model runs: the transcript is the bundled tiny.en model's output for
``jfk.flac``, kept in ``tests/data/transcripts/jfk_tiny.en.json``).

:func:`store_jfk` copies ``jfk.flac`` into ``home/media``, records it in the catalog
and stores its transcript split into two segments at "ask not" (the pause there),
the first spoken by ``SPEAKER_00`` and the second by ``SPEAKER_01`` (as a diarized
transcript is stored: labels on segments and words, one ``item_speakers`` row each).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

DATA = Path(__file__).parent / "data"
SPLIT_AT = 5  # index of the word " ask" that starts the second segment ("ask not ...")


def jfk_transcript():
    """The JFK transcript as two diarized segments (see the module's note)."""
    from vidpipe.types import Segment, Transcript

    raw = json.loads((DATA / "transcripts" / "jfk_tiny.en.json").read_text())
    tr = Transcript.model_validate(raw)
    words = tr.segments[0].words or []
    assert words[SPLIT_AT].word.strip() == "ask", words[SPLIT_AT]
    parts = [words[:SPLIT_AT], words[SPLIT_AT:]]
    segs = []
    for i, part in enumerate(parts):
        label = f"SPEAKER_0{i}"
        for w in part:
            w.speaker = label
        segs.append(
            Segment(
                id=i,
                start=part[0].start,
                end=part[-1].end,
                text="".join(w.word for w in part),
                words=part,
                speaker=label,
            )
        )
    tr.segments = segs
    tr.speakers = ["SPEAKER_00", "SPEAKER_01"]
    return tr


def store_jfk(home: Path) -> int:
    """``jfk.flac`` in ``home``'s catalog with :func:`jfk_transcript`; its media id."""
    from vidpipe.files import sha256_file
    from vidpipe.library.catalog import Catalog

    media = home / "media"
    media.mkdir(parents=True, exist_ok=True)
    path = media / "jfk.flac"
    shutil.copy(DATA / "jfk.flac", path)
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        row, _ = cat.add_media(path, sha256_file(path), path.stat().st_size)
        cat.save_transcript(row.id, jfk_transcript())
        return row.id


class Item:
    """A stored item served by a running service: its ``url``, catalog ``id``, ``home``,
    an ``http`` client on the service and the item page's address ``page_url``."""

    def __init__(self, url: str, item: int, home: Path) -> None:
        import httpx

        self.url, self.id, self.home = url, item, home
        self.http = httpx.Client(base_url=url, timeout=30)
        self.page_url = f"{url}/items/{item}"
