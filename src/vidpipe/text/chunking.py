"""Group a transcript's segments into chunks by duration and sentence ends.

A chunk is a run of consecutive segments that lasts at most ``max_duration`` seconds
(from the first segment's start to the last one's end) and closes only where a
sentence ends: a segment whose text :func:`~vidpipe.text.sentences.ends_sentence`
(``. ? ! 。 ？ ！ …``..., closing quotes and brackets after the mark allowed).
Sentences are never split, except a
sentence that alone lasts longer than ``max_duration``: it is cut at segment
boundaries into pieces of at most ``max_duration`` (a single segment longer than
that stays whole); its last piece may be followed by the next sentences in the same
chunk. Chunks cover every segment once, in order. With ``break_before`` a sentence it
accepts (a narrated document's heading) always opens a new chunk, so a slide starts
with its heading.
"""

from __future__ import annotations

from collections.abc import Callable

from vidpipe.text.sentences import ends_sentence, join_texts
from vidpipe.types import Chunk, Segment, Transcript


def _sentences(segments: list[Segment]) -> list[list[int]]:
    """Indices of segments grouped into sentences (the last may be unfinished)."""
    runs: list[list[int]] = []
    cur: list[int] = []
    for i, seg in enumerate(segments):
        cur.append(i)
        if ends_sentence(seg.text):
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def _span(segments: list[Segment], ids: list[int]) -> float:
    return segments[ids[-1]].end - segments[ids[0]].start


def chunk_transcript(
    transcript: Transcript,
    max_duration: float = 60.0,
    *,
    break_before: Callable[[str], bool] | None = None,
) -> list[Chunk]:
    """Split ``transcript`` into :class:`~vidpipe.types.Chunk` objects.

    Args:
        transcript: the source; ``Chunk.segment_ids`` are positions in its ``segments``.
        max_duration: longest chunk in seconds (first segment start to last segment end).
        break_before: a sentence's text → whether a chunk must start with it (a heading
            of a narrated document: :func:`vidpipe.text.documents.looks_like_heading`);
            headings in a row stay in one chunk with the text after them.

    Returns:
        Chunks numbered from 0, covering all segments in order without gaps.
        A chunk lasts longer than ``max_duration`` only when it is a single segment.
    """
    if max_duration <= 0:
        raise ValueError("max_duration must be positive (seconds)")
    segments = transcript.segments
    groups: list[list[int]] = []
    cur: list[int] = []
    heads = False  # cur holds only headings so far
    for sent in _sentences(segments):
        is_head = break_before is not None and break_before(
            join_texts([segments[i].text for i in sent])
        )
        if is_head and cur and not heads:
            groups.append(cur)
            cur = []
        heads = is_head and (heads or not cur)
        if cur and _span(segments, cur + sent) <= max_duration:
            cur = cur + sent
            continue
        if cur:
            groups.append(cur)
            cur = []
        if _span(segments, sent) <= max_duration:
            cur = sent
            continue
        # A sentence longer than max_duration on its own: cut it at segment boundaries.
        piece: list[int] = []
        for i in sent:
            if piece and _span(segments, [*piece, i]) > max_duration:
                groups.append(piece)
                piece = []
            piece.append(i)
        cur = piece  # the sentence's last piece may still take the sentences after it
    if cur:
        groups.append(cur)
    return [
        Chunk(
            id=n,
            start=segments[ids[0]].start,
            end=segments[ids[-1]].end,
            text=join_texts([segments[i].text for i in ids]),
            segment_ids=ids,
        )
        for n, ids in enumerate(groups)
    ]
