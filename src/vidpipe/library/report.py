"""Reports over the catalog: one row per source in input order, totals, failures by reason.

Durations are stored in seconds and shown as ``h:mm:ss``. :func:`write_plot` draws
the duration distribution (histogram and sorted durations) with matplotlib's Agg
backend, in minutes or seconds depending on the magnitude, written atomically.

Source URLs and reasons are shown with their passwords redacted
(:func:`~vidpipe.library.urls.redact_url`) in the rows, the failures and the CSV/JSON.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidpipe.files import atomic_path, atomic_write
from vidpipe.library.catalog import Catalog
from vidpipe.library.ingest import list_number
from vidpipe.library.status import job_statuses, with_source
from vidpipe.library.urls import redact_url
from vidpipe.timecode import hms_colon


@dataclass
class ReportRow:
    """One input line. ``duration`` in seconds; ``media_id`` None until ingested.

    ``source``, ``uri`` and ``reason`` are for display: URL passwords are ``***``.
    """

    position: int | None
    source_id: int | None
    source: str
    uri: str
    state: str
    reason: str | None
    media_id: int | None
    path: str | None
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    language: str | None
    words: int | None
    record_id: str | None = None
    meta: dict | None = None
    audio_duration: float | None = None  # seconds of decoded audio (embed step)
    channels: int | None = None  # of the audio stream (embed step)
    embed_seconds: float | None = None  # decode + encode wall time (embed step)
    step: str | None = None  # the step that failed (or was skipped), from the jobs
    status_basis: str = "source"  # what ``state`` comes from: jobs, source or none

    @property
    def no_audio(self) -> bool:
        """Done, with the audio steps skipped because the file has no audio track."""
        return self.state == "done" and (self.reason or "").endswith("skipped: no audio track")

    @property
    def resolution(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None


@dataclass
class Report:
    rows: list[ReportRow]
    totals: dict[str, float | int]
    failures: dict[str, list[str]] = field(default_factory=dict)  # reason group -> sources

    def media_durations(self) -> list[float]:
        """Probed durations in seconds, one per media file (the first row of each; rows
        without a media file or a duration are left out), in row order: the values of
        the duration plot (:func:`write_plot`)."""
        seen: set[int] = set()
        durations: list[float] = []
        for row in self.rows:
            if row.media_id is not None and row.media_id not in seen and row.duration:
                seen.add(row.media_id)
                durations.append(row.duration)
        return durations

    def to_dict(self) -> dict:
        return {
            "items": [asdict(r) for r in self.rows],
            "totals": self.totals,
            "failures": [{"reason": k, "items": v} for k, v in self.failures.items()],
        }


_RATE_UNIT = re.compile(r"^[kMG]?B/s\W*$")  # "B/s)" is a unit, not a path


def failure_group(reason: str | None) -> str:
    """A reason without the item's own details (quoted values, paths, URLs), for grouping.

    ``"probe: /a/x.wav: not a recognised audio or video file"`` →
    ``"probe: not a recognised audio or video file"``.
    """
    if not reason:
        return "unknown"
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "", reason)
    text = " ".join(
        w for w in text.split() if ("/" not in w or _RATE_UNIT.match(w)) and "\\" not in w
    )
    text = re.sub(r"\s+([:,])", r"\1", text)
    text = re.sub(r"^(\w+):\s*:\s*", r"\1: ", text)
    text = re.sub(r"\s+(for|at|from|of|in|on|to)$", "", text.strip(" :"))
    return text or reason


def source_label(src) -> str:
    """Short name of a source: ``links.txt:3 URL``, a path inside its folder, a file name.

    URL passwords are shown as ``***``.
    """
    if src.kind == "list-entry" and src.list_path:
        return f"{Path(src.list_path).name}:{list_number(src)} {redact_url(src.uri)}"
    if src.kind == "folder" and src.list_path:
        try:
            return str(Path(src.uri).relative_to(src.list_path))
        except ValueError:
            return src.uri
    if src.kind == "file":
        return Path(src.uri).name
    return redact_url(src.uri)


def build_report(catalog: Catalog) -> Report:
    """The report over the catalog: one row per input line in input order, then one per
    item no input line names that has jobs (a file sent to the service; ``position`` and
    ``source_id`` None, ``source`` its file name).

    A row's ``state`` and ``reason`` come from its jobs (:mod:`vidpipe.library.status`:
    ``failed`` with ``"<step>: <message>"``, ``running``, ``pending``, ``skipped``,
    ``done``): the jobs of its input line and those of its item that name no input line.
    Without jobs (or for a skipped duplicate line without its own) they are the input
    line's as ``vidpipe run`` left them.
    """
    media = {m.id: m for m in catalog.all_media()}
    words = catalog.word_counts()
    langs = catalog.languages()
    facts = catalog.embedding_facts()
    derived = job_statuses(catalog)
    rows: list[ReportRow] = []
    named: set[int] = set()
    for src in catalog.sources():
        m = media.get(src.media_id) if src.media_id is not None else None
        if m is not None:
            named.add(m.id)
        emb = facts.get(m.id) if m else None
        jobs = derived.of_source(src.id, src.media_id)
        if jobs is not None and src.state == "skipped" and src.id not in derived.by_source:
            jobs = None  # a duplicate line: its item's jobs are the first line's
        st = with_source(jobs, src.state, src.reason)
        rows.append(
            ReportRow(
                position=src.position,
                source_id=src.id,
                source=source_label(src),
                uri=redact_url(src.uri),
                state=st.status,
                reason=redact_url(st.reason) if st.reason else st.reason,
                media_id=m.id if m else None,
                path=m.path if m else None,
                duration=m.duration if m else None,
                width=m.width if m else None,
                height=m.height if m else None,
                video_codec=m.video_codec if m else None,
                audio_codec=m.audio_codec if m else None,
                language=langs.get(m.id) if m else None,
                words=words.get(m.id) if m else None,
                record_id=src.record_id,
                meta=src.meta,
                audio_duration=emb[0] if emb else None,
                channels=emb[1] if emb else None,
                embed_seconds=round(emb[2], 4) if emb and emb[2] is not None else None,
                step=st.step,
                status_basis=st.basis,
            )
        )
    for mid in sorted(set(derived.by_media) - named):  # items sent to jobs, no input line
        m = media.get(mid)
        st = derived.of_media(mid)
        if m is None or st is None:
            continue
        emb = facts.get(mid)
        rows.append(
            ReportRow(
                position=None,
                source_id=None,
                source=Path(m.path).name,
                uri=m.path,
                state=st.status,
                reason=st.reason,
                media_id=mid,
                path=m.path,
                duration=m.duration,
                width=m.width,
                height=m.height,
                video_codec=m.video_codec,
                audio_codec=m.audio_codec,
                language=langs.get(mid),
                words=words.get(mid),
                audio_duration=emb[0] if emb else None,
                channels=emb[1] if emb else None,
                embed_seconds=round(emb[2], 4) if emb and emb[2] is not None else None,
                step=st.step,
                status_basis=st.basis,
            )
        )
    counted: set[int] = set()
    total_dur = 0.0
    total_words = 0
    for r in rows:
        if r.state == "done" and r.media_id is not None and r.media_id not in counted:
            counted.add(r.media_id)
            total_dur += r.duration or 0.0
            total_words += r.words or 0
    totals: dict[str, float | int] = {"items": len(rows)}
    for state in ("done", "failed", "skipped", "pending"):
        totals[state] = sum(1 for r in rows if r.state == state)
    totals["running"] = sum(1 for r in rows if r.state == "running")
    totals["media"] = len(counted)
    # done items without an audio track (runner: "audio, transcribe: skipped: no audio track")
    totals["no_audio"] = sum(1 for r in rows if r.no_audio)
    totals["duration"] = round(total_dur, 3)
    totals["words"] = total_words
    failures: dict[str, list[str]] = {}
    for r in rows:
        if r.state == "failed":
            failures.setdefault(failure_group(r.reason), []).append(r.source)
    return Report(rows, totals, dict(sorted(failures.items(), key=lambda kv: -len(kv[1]))))


CSV_FIELDS = [
    "position",
    "source",
    "uri",
    "state",
    "reason",
    "media_id",
    "path",
    "duration",
    "width",
    "height",
    "video_codec",
    "audio_codec",
    "language",
    "words",
    "record_id",
    "audio_duration",
    "channels",
    "embed_seconds",
    "step",
    "meta",
]


def write_csv(report: Report, path: str | os.PathLike[str]) -> Path:
    """One row per item; ``duration`` in seconds. Written atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in report.rows:
        row = {k: ("" if v is None else v) for k, v in asdict(r).items()}
        if r.meta is not None:
            row["meta"] = json.dumps(r.meta, ensure_ascii=False)
        w.writerow(row)
    with atomic_write(path, "w", newline="") as fh:
        fh.write(buf.getvalue())
    return Path(path)


def write_json(report: Report, path: str | os.PathLike[str]) -> Path:
    with atomic_write(path) as fh:
        json.dump(report.to_dict(), fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    return Path(path)


def write_plot(durations_s: list[float], path: str | os.PathLike[str], title: str = "") -> Path:
    """Histogram and sorted durations, one unit (minutes if the longest is >= 2 min).

    Raises:
        UsageError: no durations to plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from vidpipe.errors import UsageError

    values = np.array([d for d in durations_s if d is not None], dtype=float)
    if values.size == 0:
        raise UsageError("no durations to plot", "run 'vidpipe run' with the probe step first")
    minutes = values.max() >= 120
    unit = "minutes" if minutes else "seconds"
    v = values / 60.0 if minutes else values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    bins = min(30, max(5, int(np.sqrt(v.size)) * 2))
    ax1.hist(v, bins=bins, range=(0, float(v.max()) * 1.05), color="#4C72B0", edgecolor="white")
    ax1.set_xlabel(f"duration ({unit})")
    ax1.set_ylabel("number of files")
    ax1.set_title("Distribution of durations")
    ax1.grid(axis="y", alpha=0.3)
    ax1.yaxis.get_major_locator().set_params(integer=True)
    s = np.sort(v)
    marker = "o" if s.size <= 100 else None
    ax2.plot(np.arange(1, s.size + 1), s, marker=marker, markersize=3, color="#DD8452")
    ax2.set_xlabel("file rank (shortest to longest)")
    ax2.set_ylabel(f"duration ({unit})")
    ax2.set_title("Sorted durations")
    ax2.set_ylim(bottom=0, top=float(v.max()) * 1.1)
    ax2.grid(alpha=0.3)
    ax2.xaxis.get_major_locator().set_params(integer=True)
    med = float(np.median(v))
    ax2.axhline(med, color="gray", linestyle="--", linewidth=1, label=f"median {med:.1f} {unit}")
    ax2.legend(loc="upper left")
    total = values.sum()
    fig.suptitle(
        title or f"{values.size} files, total {hms_colon(total)} (h:mm:ss), median {med:.1f} {unit}"
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
