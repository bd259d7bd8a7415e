"""Transcript revisions: people correct a transcript; the machine's version is kept.

An edit (:func:`edit_transcript`, ``PATCH /v1/items/{id}/transcript``) gives new text
(and optionally a speaker) for some segments of an item's transcript. It is stored as a
new *revision*: the catalog's ``segments``/``words`` rows are rewritten to the edited
text, so everything that reads the transcript (search, exports, subtitles, summaries,
the page) uses the latest revision, and a ``transcript_revisions`` row keeps each
revision whole (number 1, written at the first edit, is the machine's transcript;
:func:`transcript_revision` reads any of them, ``"original"`` the machine's).

Word timing (:func:`retime_words`): words the edit left as they were keep their times,
probability and speaker; new or changed words are spread over the time between the
kept words around them (the segment's bounds at its ends), in proportion to their
length in characters. Chinese and Japanese text is compared character by character,
so correcting one character of a word keeps the other words' times.

A new machine transcript (transcribing the item again,
:meth:`~vidpipe.library.catalog.Catalog.save_transcript`) deletes the item's revisions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vidpipe.errors import InputError, NotFoundError
from vidpipe.library.catalog import word_rows
from vidpipe.library.models import (
    Media,
    SegmentRow,
    TranscriptRevisionRow,
    TranscriptRow,
    WordRow,
    utcnow,
)
from vidpipe.library.speaker_rows import item_labels, speaker_names, sync_item_speakers
from vidpipe.text.tokens import index_text
from vidpipe.types import Segment, Transcript, Word

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = [
    "MAX_EDITS",
    "MAX_SEGMENT_CHARS",
    "EditResult",
    "RevisionInfo",
    "edit_transcript",
    "latest_revision",
    "retime_words",
    "transcript_revision",
    "transcript_revisions",
]

MAX_EDITS = 10_000
"""Most segments one edit may change."""
MAX_SEGMENT_CHARS = 5_000
"""Longest text of one edited segment, in characters."""

_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)")
_HAS_CJK = re.compile(rf"[{_CJK}]")


@dataclass(frozen=True)
class EditResult:
    """What :func:`edit_transcript` stored: ``revision`` (its number; unchanged when the
    edit changed nothing), ``changed`` (ids of the segments it changed, as given),
    ``removed`` (ids of segments whose text was emptied: gone from the transcript)."""

    revision: int
    changed: list[int]
    removed: list[int]


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of an item's transcript: ``number``, ``kind`` (``machine`` or
    ``edit``), ``changed`` (segment ids of an edit), ``created_at`` (ISO 8601, UTC)."""

    number: int
    kind: str
    changed: list[int]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "changed": self.changed,
            "created_at": self.created_at,
        }


# --------------------------------------------------------------------------- timing


def _tokens(text: str) -> list[str]:
    """``text`` as word tokens with their leading white space; Chinese/Japanese one
    character each."""
    return _TOKEN.findall(text)


def _units(word: str) -> list[str]:
    """The comparison units of a stored word: its tokens, stripped."""
    return [t.strip() for t in _tokens(word)] or [word.strip()]


def retime_words(
    words: Sequence[Word], text: str, start: float, end: float, speaker: str | None = None
) -> list[Word]:
    """The words of a segment whose text became ``text``.

    Words left as they were keep their time, probability and speaker (``speaker``, when
    given, replaces every word's); new or changed words share the time between the kept
    words around them (``start``/``end``, the segment's bounds in seconds, at its ends)
    in proportion to their length in characters, with probability 1.0 and ``speaker``
    (else the speaker of the word they replace or follow).

    Args:
        words: the segment's words before the edit, in order.
        text: the segment's new text.
        start, end: the segment's bounds (seconds).
        speaker: the label every word gets, or None to keep theirs.

    Returns:
        The new words, in order, times non-decreasing within ``[start, end]``.
    """
    new = _tokens(text)
    new_keys = [t.strip() for t in new]
    old_keys: list[str] = []
    owner: list[tuple[int, int]] = []  # unit -> (word index, unit index in word)
    for i, w in enumerate(words):
        for k, u in enumerate(_units(w.word)):
            old_keys.append(u)
            owner.append((i, k))
    mapped: dict[int, tuple[int, int]] = {}
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for d in range(j2 - j1):
                mapped[j1 + d] = owner[i1 + d]
    sizes = [len(_units(w.word)) for w in words]
    # kept[j] = index of the old word that tokens j..j+n-1 reproduce whole
    out: list[Word | list[str]] = []  # Word (kept) or a run of changed tokens
    j = 0
    while j < len(new):
        hit = mapped.get(j)
        if hit is not None and hit[1] == 0:
            i = hit[0]
            n = sizes[i]
            if all(mapped.get(j + d) == (i, d) for d in range(n)):
                w = words[i]
                out.append(
                    Word(
                        start=w.start,
                        end=w.end,
                        word=w.word,
                        probability=w.probability,
                        speaker=speaker if speaker is not None else w.speaker,
                    )
                )
                j += n
                continue
        if out and isinstance(out[-1], list):
            out[-1].append(new[j])
        else:
            out.append([new[j]])
        j += 1
    result: list[Word] = []
    for pos, part in enumerate(out):
        if isinstance(part, Word):
            result.append(part)
            continue
        lo = result[-1].end if result else start
        nxt = next((p for p in out[pos + 1 :] if isinstance(p, Word)), None)
        hi = nxt.start if nxt is not None else end
        lo = min(max(lo, start), end)
        hi = max(min(hi, end), lo)
        near = result[-1] if result else nxt
        who = speaker if speaker is not None else (near.speaker if near else None)
        lengths = [max(1, len(t.strip())) for t in part]
        total = float(sum(lengths))
        at = lo
        for tok, n in zip(part, lengths, strict=True):
            stop = at + (hi - lo) * n / total
            body = tok.strip()
            shown = body if _HAS_CJK.match(body) else " " + body
            result.append(
                Word(
                    start=round(at, 3), end=round(stop, 3), word=shown, probability=1.0, speaker=who
                )
            )
            at = stop
    return result


# --------------------------------------------------------------------------- reading


def _raw_transcript(s: Session, row: TranscriptRow) -> Transcript:
    """The stored rows of ``row`` as a Transcript, speakers as their labels."""
    segs = list(
        s.scalars(
            select(SegmentRow).where(SegmentRow.transcript_id == row.id).order_by(SegmentRow.idx)
        )
    )
    words: dict[int, list[WordRow]] = {}
    if segs:
        q = (
            select(WordRow)
            .where(WordRow.segment_id.in_([g.id for g in segs]))
            .order_by(WordRow.segment_id, WordRow.idx)
        )
        for w in s.scalars(q):
            words.setdefault(w.segment_id, []).append(w)
    return Transcript(
        language=row.language,
        language_probability=row.language_probability,
        duration=row.duration,
        model=row.model,
        segments=[
            Segment(
                id=g.idx,
                start=g.start,
                end=g.end,
                text=g.text,
                speaker=g.speaker,
                words=[
                    Word(
                        start=w.start,
                        end=w.end,
                        word=w.word,
                        probability=w.probability or 0,
                        speaker=w.speaker,
                    )
                    for w in words[g.id]
                ]
                if g.id in words
                else None,
            )
            for g in segs
        ],
    )


def _named(s: Session, media_id: int, tr: Transcript, path: str | None) -> Transcript:
    """``tr`` (labels) with the names given to its speakers, its ``speakers`` list and
    ``source``."""
    names = speaker_names(s, media_id)
    shown = list(dict.fromkeys(names.get(x, x) for x in item_labels(s, media_id)))

    def who(label: str | None) -> str | None:
        return None if label is None else names.get(label, label)

    out = tr.model_copy(deep=True)
    out.source = path
    for g in out.segments:
        g.speaker = who(g.speaker)
        for w in g.words or []:
            w.speaker = who(w.speaker)
    used = [n for g in out.segments for n in [g.speaker, *(w.speaker for w in g.words or [])]]
    if any(n is not None for n in used):
        for n in used:
            if n is not None and n not in shown:
                shown.append(n)
        out.speakers = shown
    else:
        out.speakers = None
    return out


def _media(s: Session, media_id: int) -> Media:
    media = s.get(Media, media_id)
    if media is None:
        raise NotFoundError(f"no item with id {media_id} in the catalog", "see GET /v1/items")
    return media


def _latest_row(s: Session, media_id: int) -> TranscriptRow | None:
    q = (
        select(TranscriptRow)
        .where(TranscriptRow.media_id == media_id)
        .order_by(TranscriptRow.id.desc())
    )
    return s.scalars(q).first()


def _latest_number(s: Session, media_id: int) -> int:
    n = s.scalar(
        select(func.max(TranscriptRevisionRow.number)).where(
            TranscriptRevisionRow.media_id == media_id
        )
    )
    return int(n or 1)


def latest_revision(catalog: Catalog, media_id: int) -> RevisionInfo | None:
    """The revision of ``media_id``'s transcript everything reads now (the last of
    :func:`transcript_revisions`); None when the item (or its transcript) is missing."""
    with catalog.session(write=False) as s:
        row = _latest_row(s, media_id)
        if row is None:
            return None
        rev = s.scalars(
            select(TranscriptRevisionRow)
            .where(TranscriptRevisionRow.media_id == media_id)
            .order_by(TranscriptRevisionRow.number.desc())
            .limit(1)
        ).first()
    if rev is None:
        return RevisionInfo(1, "machine", [], row.created_at.isoformat())
    return RevisionInfo(rev.number, rev.kind, list(rev.changed or []), rev.created_at.isoformat())


def transcript_revisions(catalog: Catalog, media_id: int) -> list[RevisionInfo]:
    """The revisions of ``media_id``'s transcript, oldest first: just number 1
    (``machine``) while it was never edited; empty when it has no transcript.

    Raises:
        NotFoundError: no such item.
    """
    with catalog.session(write=False) as s:
        _media(s, media_id)
        row = _latest_row(s, media_id)
        if row is None:
            return []
        revs = list(
            s.scalars(
                select(TranscriptRevisionRow)
                .where(TranscriptRevisionRow.media_id == media_id)
                .order_by(TranscriptRevisionRow.number)
            )
        )
    if not revs:
        return [RevisionInfo(1, "machine", [], row.created_at.isoformat())]
    return [
        RevisionInfo(r.number, r.kind, list(r.changed or []), r.created_at.isoformat())
        for r in revs
    ]


def transcript_revision(
    catalog: Catalog, media_id: int, revision: str | int = "latest"
) -> Transcript | None:
    """One revision of ``media_id``'s transcript, speakers shown by the names given to
    them: ``"latest"`` (what :meth:`Catalog.get_transcript` gives), ``"original"`` (the
    machine's, number 1) or a revision number.

    Returns:
        The transcript, or None when the item has no transcript.

    Raises:
        NotFoundError: no such item, or no such revision.
        InputError: ``revision`` is neither a number nor ``latest``/``original``.
    """
    if isinstance(revision, str) and revision.isdigit():
        revision = int(revision)
    if revision not in ("latest", "original") and not isinstance(revision, int):
        raise InputError(
            f"unknown revision '{revision}'", "give latest, original or a revision number"
        )
    with catalog.session(write=False) as s:
        media = _media(s, media_id)
        row = _latest_row(s, media_id)
        if row is None:
            return None
        number = 1 if revision == "original" else revision
        if number == "latest" or number == _latest_number(s, media_id):
            return _named(s, media_id, _raw_transcript(s, row), media.path)
        rev = s.scalars(
            select(TranscriptRevisionRow).where(
                TranscriptRevisionRow.media_id == media_id,
                TranscriptRevisionRow.number == number,
            )
        ).first()
        if rev is None:
            raise NotFoundError(
                f"item {media_id} has no transcript revision {number}",
                "see GET /v1/items/{id}/transcript/revisions",
            )
        return _named(s, media_id, Transcript.model_validate(rev.data), media.path)


# --------------------------------------------------------------------------- editing


def _check_edits(edits: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for e in edits:
        if not isinstance(e, Mapping):
            raise InputError("each edit must be an object with an id and a text")
        sid = e.get("id")
        if not isinstance(sid, int) or isinstance(sid, bool) or sid < 0:
            raise InputError(f"segment id must be a whole number >= 0, not {sid!r}")
        if sid in seen:
            raise InputError(f"segment {sid} is edited twice in one request")
        seen.add(sid)
        text = e.get("text")
        if text is not None and not isinstance(text, str):
            raise InputError(f"segment {sid}: text must be a string")
        if text is not None and len(text) > MAX_SEGMENT_CHARS:
            raise InputError(
                f"segment {sid}: text of {len(text)} characters, over {MAX_SEGMENT_CHARS}"
            )
        item: dict[str, Any] = {"id": sid, "text": text}
        if "speaker" in e:
            who = e["speaker"]
            if who is not None and not isinstance(who, str):
                raise InputError(f"segment {sid}: speaker must be a string or null")
            if isinstance(who, str):
                from vidpipe.library.speakers import check_name

                who = check_name(who) if who.strip() else None
            item["speaker"] = who
        if text is None and "speaker" not in item:
            raise InputError(f"segment {sid}: give a text, a speaker or both")
        out.append(item)
    if not out:
        raise InputError("nothing to edit", 'give {"segments": [{"id": 0, "text": "..."}]}')
    if len(out) > MAX_EDITS:
        raise InputError(f"at most {MAX_EDITS} segments in one edit, not {len(out)}")
    return out


def edit_transcript(
    catalog: Catalog, media_id: int, edits: Iterable[Mapping[str, Any]]
) -> EditResult:
    """Store an edit of ``media_id``'s transcript as its next revision (all or nothing).

    Args:
        edits: ``[{"id": N, "text": "...", "speaker": "..."}]``: ``id`` a segment id of
            the latest revision (``Segment.id``), ``text`` its new text (an empty text
            removes the segment; later segments' ids shift down), ``speaker``
            (optional) a speaker's name or label to give the segment and its words
            (a new name adds a speaker; ``null`` takes the speaker away).

    Returns:
        :class:`EditResult`; an edit that changes nothing stores no revision.

    Raises:
        NotFoundError: no such item, or it has no transcript.
        InputError: a malformed edit, an unknown segment id, a bad speaker name.
        CatalogError: the database cannot be written.
    """
    wanted = _check_edits(edits)
    with catalog.session() as s:
        s.execute(select(Media.id).where(Media.id == media_id).with_for_update())
        _media(s, media_id)
        row = _latest_row(s, media_id)
        if row is None:
            raise NotFoundError(f"item {media_id} has no transcript", "transcribe it first")
        before = _raw_transcript(s, row)
        by_id = {g.id: g for g in before.segments}
        unknown = [e["id"] for e in wanted if e["id"] not in by_id]
        if unknown:
            last = len(before.segments) - 1
            raise InputError(
                f"item {media_id} has no segment {unknown[0]}",
                f"its segments are 0..{last}" if last >= 0 else "its transcript is empty",
            )
        names = speaker_names(s, media_id)
        labels = item_labels(s, media_id)
        by_name = {n: lab for lab, n in names.items()}

        def label_of(who: str | None) -> str | None:
            if who is None or who in labels:
                return who
            return by_name.get(who, who)

        after = before.model_copy(deep=True)
        changed: list[int] = []
        removed: list[int] = []
        for e in wanted:
            seg = next(g for g in after.segments if g.id == e["id"])
            new_speaker = label_of(e["speaker"]) if "speaker" in e else seg.speaker
            text = seg.text if e["text"] is None else e["text"].strip()
            if e["text"] is not None and text and seg.text.startswith(" "):
                text = " " + text
            if text == seg.text and new_speaker == seg.speaker:
                continue
            changed.append(seg.id)
            if not text.strip():
                removed.append(seg.id)
                continue
            if seg.words is not None:
                if text != seg.text:
                    seg.words = retime_words(
                        seg.words,
                        text,
                        seg.start,
                        seg.end,
                        speaker=new_speaker if "speaker" in e else None,
                    )
                elif "speaker" in e:
                    for w in seg.words:
                        w.speaker = new_speaker
            seg.text = text
            seg.speaker = new_speaker
        if not changed:
            return EditResult(_latest_number(s, media_id), [], [])
        after.segments = [g for g in after.segments if g.id not in removed]
        number = _latest_number(s, media_id)
        if not s.scalar(
            select(func.count(TranscriptRevisionRow.id)).where(
                TranscriptRevisionRow.media_id == media_id
            )
        ):
            s.add(
                TranscriptRevisionRow(
                    media_id=media_id,
                    number=1,
                    kind="machine",
                    changed=None,
                    data=before.model_dump(mode="json"),
                    created_at=row.created_at or utcnow(),
                )
            )
        _write_segments(s, row.id, before, after, set(changed))
        for i, g in enumerate(after.segments):
            g.id = i
        s.add(
            TranscriptRevisionRow(
                media_id=media_id,
                number=number + 1,
                kind="edit",
                changed=changed,
                data=after.model_dump(mode="json"),
                created_at=utcnow(),
            )
        )
        used = [
            lab
            for g in after.segments
            for lab in [g.speaker, *(w.speaker for w in g.words or [])]
            if lab is not None
        ]
        if used or labels:
            sync_item_speakers(s, media_id, labels + [x for x in used if x not in labels])
        return EditResult(number + 1, changed, removed)


def _write_segments(
    s: Session, transcript_id: int, before: Transcript, after: Transcript, changed: set[int]
) -> None:
    """Rewrite the rows of the ``changed`` segments of ``transcript_id`` to ``after``
    (removed ones deleted, later ones re-numbered); the FTS triggers / generated column
    keep search in step."""
    rows = {
        g.idx: g
        for g in s.scalars(select(SegmentRow).where(SegmentRow.transcript_id == transcript_id))
    }
    kept = {g.id: g for g in after.segments}
    for sid in sorted(changed):
        row = rows[sid]
        s.execute(delete(WordRow).where(WordRow.segment_id == row.id))
        seg = kept.get(sid)
        if seg is None:
            s.delete(row)
            continue
        row.text = seg.text
        row.search_text = index_text(seg.text)
        row.speaker = seg.speaker
        s.add_all(word_rows(row.id, seg.words or []))
    s.flush()
    if len(kept) != len(before.segments):
        for new_idx, seg in enumerate(after.segments):
            row = rows[seg.id]
            if row.idx != new_idx:
                row.idx = new_idx
        s.flush()
