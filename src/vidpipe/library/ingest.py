"""Turn command-line sources into catalog rows, one per input line, in input order.

A source is a URL, a text file of URLs (one per line; ``#`` comments, blank lines and
duplicates allowed), a local media file, or a folder (the media files inside, in
natural order: ``2.mp4`` before ``10.mp4``). Registering the same input again finds
the row recorded the first time, so a rerun neither duplicates rows nor redoes work.

A JSON file (an array of records), a JSON Lines file or a CSV file is a list of
records, as in the usual ``all_videos.json``: each record's URL is its ``url_field``
(default: the first field holding an http(s) URL), its id the ``id_field``, and every
other field is kept as the source's metadata (``sources.meta``). ``start``/``end``
take a slice of the list, as Python slices do (0-based, ``end`` excluded); records
keep their numbers in the whole list (``line`` is the record's index plus one), so two
slices of one list never collide. Messages name a record by its 0-based index, the
numbers ``start``/``end`` take (``record 14`` is the first record of ``start=14``). A
record without a URL is ``failed`` at once.

A link-list line holding several URLs pasted together
(``http://a/x.mp4http://b/y.mp4``, :func:`vidpipe.library.urls.split_glued`) becomes
one source per URL, all with that line's number and ``meta`` ``{"glued_line": the
original text, "part": k, "parts": n}``; messages then say ``line 3 of links.txt (URL
2 of 2 glued together there)``.

Malformed URLs are recorded as ``failed`` with the reason straight away; a URL seen
earlier in the same run or already recorded is ``skipped`` ("duplicate of ...").
Registration holds the catalog's ``register`` lock (:meth:`Catalog.lock`), so two runs
started at once on the same inputs find each other's rows instead of adding twice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import InputError, UsageError
from vidpipe.files import natural_key
from vidpipe.library.catalog import Catalog
from vidpipe.library.models import Media, Source

MEDIA_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
        ".flv",
        ".wmv",
        ".ts",
        ".mts",
        ".m2ts",
        ".mpg",
        ".mpeg",
        ".3gp",
        ".ogv",
        ".mp3",
        ".wav",
        ".flac",
        ".m4a",
        ".aac",
        ".ogg",
        ".oga",
        ".opus",
        ".wma",
        ".aiff",
        ".aif",
    ]
)
LIST_EXTENSIONS = frozenset({".txt", ".list", ".lst", ".urls", ".links"})
RECORD_EXTENSIONS = frozenset({".json", ".jsonl", ".ndjson", ".csv"})
_URL_LIKE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^www\.", re.ASCII)


def looks_like_url(arg: str) -> bool:
    return bool(_URL_LIKE.match(arg.strip())) and not Path(arg).exists()


def folder_media(folder: Path) -> list[Path]:
    """Media files under ``folder`` (recursively, hidden ones excluded), natural order."""
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in MEDIA_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def describe(src: Source) -> str:
    """Where a source came from, for messages: ``line 3 of links.txt`` or its URI.

    A URL's password is shown as ``***`` (:func:`vidpipe.library.urls.redact_url`).
    """
    from vidpipe.library.urls import redact_url

    if src.list_path and src.line is not None:
        if Path(src.list_path).suffix.lower() in RECORD_EXTENSIONS:
            return f"record {src.line - 1} of {Path(src.list_path).name}"
        where = f"line {src.line} of {Path(src.list_path).name}"
        meta = src.meta or {}
        if meta.get("glued_line") and meta.get("parts"):
            where += f" (URL {meta.get('part')} of {meta['parts']} glued together there)"
        return where
    return redact_url(src.uri)


def list_number(src: Source) -> int | None:
    """The number a source has in its list as messages show it: the 1-based line of a
    link list, the 0-based index of a record list (the base of ``--start``/``--end``)."""
    if src.line is None or not src.list_path:
        return src.line
    if Path(src.list_path).suffix.lower() in RECORD_EXTENSIONS:
        return src.line - 1
    return src.line


@dataclass
class RecordOptions:
    """How to read JSON/JSONL/CSV source lists (see the module doc).

    Attributes:
        url_field: the field holding the URL (default: the first http(s) URL field).
        id_field: the field holding the record's id (kept as ``sources.record_id``).
        start, end: the slice of the list to take (0-based, ``end`` excluded).
    """

    url_field: str | None = None
    id_field: str | None = None
    start: int | None = None
    end: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.url_field, self.id_field, self.start, self.end))


def read_records(path: Path) -> list[dict | str]:
    """The records of a JSON array, JSON Lines or CSV file, in order.

    A JSON Lines line that is not a JSON object comes back as the string ``"bad: why"``
    (its record then fails alone).

    Raises:
        InputError: the file cannot be read, or a ``.json`` file is not an array.
    """
    import csv
    import io
    import json

    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(
                f"{path.name}: not valid JSON ({exc})", "give a JSON array of records"
            ) from exc
        if not isinstance(data, list):
            raise InputError(
                f"{path.name}: holds a JSON {type(data).__name__}, not an array of records",
                'give a JSON array such as [{"video_url": "https://..."}, ...]',
            )
        return [r if isinstance(r, dict) else f"bad: not a JSON object: {r!r:.60}" for r in data]
    out: list[dict | str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            out.append(f"bad: not valid JSON ({exc})")
            continue
        out.append(rec if isinstance(rec, dict) else f"bad: not a JSON object: {rec!r:.60}")
    return out


def record_url(record: dict, url_field: str | None) -> str | None:
    """The URL of ``record``: its ``url_field``, else the first http(s) URL value."""
    if url_field is not None:
        v = record.get(url_field)
        return str(v).strip() if v not in (None, "") else None
    for v in record.values():
        if isinstance(v, str) and v.strip().lower().startswith(("http://", "https://")):
            return v.strip()
    return None


@dataclass
class Registered:
    """Sources of one invocation in input order; ``new`` tells which rows were created."""

    sources: list[Source]
    new: set[int]


def check_inputs(inputs: list[str]) -> None:
    """Raise :class:`InputError` for a path that cannot be a source (before anything is
    recorded): missing, a broken link or link loop, a named pipe, a device or a socket
    (:func:`vidpipe.files.check_input_path`, which never opens it), or a folder that
    holds no media files (say, a folder named ``x.mp4``)."""
    import stat

    from vidpipe.files import check_input_path

    for arg in inputs:
        if looks_like_url(arg):
            continue
        p = Path(arg).expanduser()
        if not os.path.lexists(p):
            raise InputError(f"{arg}: no such file or folder", "check the path, or give a URL")
        _, st = check_input_path(p)
        if stat.S_ISDIR(st.st_mode) and not folder_media(p):
            what = (
                "a folder, not a media file" if p.suffix.lower() in MEDIA_EXTENSIONS else "a folder"
            )
            try:
                n = sum(1 for _ in p.iterdir())
            except OSError:
                n = 0
            entries = f"{n} entr{'y' if n == 1 else 'ies'}"
            inside = f"it holds {entries} but no media files" if n else "it is empty"
            raise InputError(
                f"{arg}: is {what}, and {inside}",
                "pass media files (.mp4, .mkv, .mp3, .wav...) or a folder holding some",
            )


def register(
    catalog: Catalog, inputs: list[str], records: RecordOptions | None = None
) -> Registered:
    """Record every input line as a source (or find its earlier row). See module doc.

    Args:
        catalog: the catalog.
        inputs: URLs, link lists, record lists (.json/.jsonl/.csv), files, folders.
        records: how to read record lists (fields and slice).

    Returns the sources in input order.

    Raises:
        InputError: a missing path (before anything is recorded), an unreadable list,
            a ``.json`` file that is not an array.
        UsageError: record options without a record list, or a bad slice.
    """
    check_inputs(inputs)
    records = records or RecordOptions()
    if records.active and not any(
        not looks_like_url(a) and Path(a).suffix.lower() in RECORD_EXTENSIONS for a in inputs
    ):
        raise UsageError(
            "--url-field, --id-field, --start and --end apply to record lists",
            "give a .json, .jsonl or .csv list of records",
        )
    for name, v in (("--start", records.start), ("--end", records.end)):
        if v is not None and v < 0:
            raise UsageError(f"{name} {v} is negative", "give a 0-based record index")
    with catalog.lock("register"):
        return _register(catalog, inputs, records)


def _register(catalog: Catalog, inputs: list[str], records: RecordOptions) -> Registered:
    from vidpipe.library.urls import parse_link_list, split_glued, validate_url

    out: list[Source] = []
    new: set[int] = set()

    def add(
        uri: str,
        kind: str,
        list_path: str | None,
        line: int | None,
        raw: str,
        record_id: str | None = None,
        meta: dict | None = None,
        bad: str | None = None,
    ) -> None:
        existing = catalog.find_source(uri, list_path, line)
        if existing is None and raw != uri:
            existing = catalog.find_source(raw, list_path, line)
        if existing is not None:
            out.append(existing)
            return
        state, reason = "pending", None
        if bad is not None:
            state, reason = "failed", f"ingest: {bad}"
        elif kind in ("url", "list-entry"):
            try:
                uri = validate_url(raw)
            except UsageError as exc:
                uri, state, reason = raw, "failed", f"ingest: {exc.one_line()}"
            else:
                existing = catalog.find_source(uri, list_path, line)
                if existing is not None:
                    out.append(existing)
                    return
                dup = catalog.done_source_for_uri(uri)
                if dup is not None:
                    state, reason = "skipped", f"duplicate of {describe(dup)}"
        src = catalog.add_source(
            uri, kind, list_path, line, state=state, reason=reason, record_id=record_id, meta=meta
        )
        if state == "failed":
            catalog.record_failure("ingest", "UsageError", (reason or "")[8:], source_id=src.id)
        new.add(src.id)
        out.append(src)

    for arg in inputs:
        if looks_like_url(arg):
            add(arg.strip(), "url", None, None, arg.strip())
            continue
        p = Path(arg).expanduser().resolve()
        if p.is_dir():
            for f in folder_media(p):
                add(str(f), "folder", str(p), None, str(f))
        elif p.suffix.lower() in RECORD_EXTENSIONS:
            rows = read_records(p)
            lo, hi = records.start or 0, len(rows) if records.end is None else records.end
            for n in range(lo, min(hi, len(rows))):
                rec, num = rows[n], n + 1  # stored 1-based; messages say the index n
                if isinstance(rec, str):
                    add(f"record {n}", "list-entry", str(p), num, f"record {n}", bad=rec[5:])
                    continue
                url = record_url(rec, records.url_field)
                rid = rec.get(records.id_field) if records.id_field else None
                meta = {
                    k: v for k, v in rec.items() if k not in (records.url_field, records.id_field)
                }
                if records.url_field is None and url is not None:
                    meta = {k: v for k, v in meta.items() if v != url}
                rid_s = None if rid in (None, "") else str(rid)
                if url is None:
                    field = f"field '{records.url_field}'" if records.url_field else "http(s) URL"
                    add(
                        f"record {n}",
                        "list-entry",
                        str(p),
                        num,
                        f"record {n}",
                        rid_s,
                        meta,
                        bad=f"record {n} has no {field}",
                    )
                    continue
                add(url, "list-entry", str(p), num, url, rid_s, meta)
        elif p.suffix.lower() in LIST_EXTENSIONS:
            try:
                text = p.read_text(encoding="utf-8-sig", errors="replace")
            except OSError as exc:
                raise InputError(f"{arg}: cannot read: {exc.strerror or exc}") from exc
            for line, entry in parse_link_list(text):
                urls = split_glued(entry)
                if len(urls) == 1:
                    add(entry, "list-entry", str(p), line, entry)
                    continue
                for k, url in enumerate(urls, start=1):
                    glued = {"glued_line": entry, "part": k, "parts": len(urls)}
                    add(url, "list-entry", str(p), line, url, meta=glued)
        else:
            add(str(p), "file", None, None, str(p))
    return Registered(out, new)


def record_by_content(
    catalog: Catalog, src: Source, path: Path, sha256: str, size: int
) -> tuple[Media, str | None]:
    """Record ``src``'s file ``path`` as a media item by content (the ``ingest`` step of
    ``vidpipe run`` and the ``download`` job of ``vidpipe submit``).

    The first input line holding some content keeps it: when ``src`` comes before the
    other sources already holding this content (downloads finish in any order), those
    become ``skipped: duplicate content of <src>`` and the item's path becomes ``path``;
    otherwise ``src`` itself is ``skipped`` (reason ``duplicate content of ...``).
    Files are never deleted: both stay on disk, the catalog says which line keeps the
    content. A kept ``src`` is left ``pending`` on the item.

    Args:
        catalog: the catalog.
        src: the source (input line) the file belongs to.
        path: the file (made absolute).
        sha256: hex digest of the whole file.
        size: its size in bytes.

    Returns:
        ``(media, None)`` when ``src`` keeps the content, ``(media, reason)`` when it is
        a duplicate (its row is then ``skipped`` with that reason).

    Holds the catalog's ``record-by-content`` lock (:meth:`Catalog.lock`).
    """
    path = Path(path).resolve()
    # one decision at a time across processes: two workers downloading the same
    # content at once must agree on which line keeps it
    with catalog.lock("record-by-content"):
        return _record_by_content(catalog, src, path, sha256, size)


def _record_by_content(
    catalog: Catalog, src: Source, path: Path, sha256: str, size: int
) -> tuple[Media, str | None]:
    media, created = catalog.add_media(path, sha256, size)
    if not created:
        owners = [
            s for s in catalog.sources_of_media(media.id) if s.id != src.id and s.state != "skipped"
        ]
        if owners and all(o.position > src.position for o in owners):
            for o in owners:
                catalog.set_source_state(o.id, "skipped", f"duplicate content of {describe(src)}")
            if Path(media.path) != path:
                catalog.set_media_path(media.id, path)
            owners = []
            media = catalog.get_media(media.id)
        if owners or Path(media.path) != path:
            where = describe(owners[0]) if owners else media.path
            reason = f"duplicate content of {where}"
            catalog.set_source_state(src.id, "skipped", reason, media_id=media.id)
            return media, reason
    catalog.set_source_state(src.id, "pending", None, media_id=media.id)
    src.media_id = media.id
    return media, None
