"""Audio embeddings over the catalog: embed items, fit the PCA, search, export.

The one home of the embedding work that ``vidpipe embed``, ``vidpipe similar``,
``vidpipe export --embeddings``, the ``embed`` step of ``vidpipe run`` and the
``embed`` job stage share:

- :func:`embed_items` decodes each item's audio in memory (PyAV, 16 kHz mono), embeds
  a group of items at once (their 30 s windows share encoder batches,
  :func:`vidpipe.embed.audio.embed_clips`) and stores each vector as soon as its group
  is done, with the processing facts (audio duration, channels, sample rate, seconds).
  An item already embedded with the same options is skipped, so a rerun after a kill
  redoes only the group in progress. :func:`embed_one` is the same for one item
  (the runner and the job stage).
- :func:`fit_collection_pca` fits a PCA on every stored vector of one set of options
  and stores it (a new version) with every reduced vector; with fewer items than
  components it says so and keeps the raw vectors.
- :func:`similar` ranks stored items by cosine similarity to an item or a file
  (embedded on the fly), :func:`export_embeddings` writes ids, source metadata and
  vectors as ``.npy`` (with a sidecar ``.json``), ``.jsonl`` or ``.parquet``.

Options (:class:`EmbedOptions`) are hashed with the stage version into the key of a
set of vectors (``options_hash`` in the catalog): vectors of different encoders or
poolings never mix.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from vidpipe.config import default_threads, get_settings
from vidpipe.errors import InputError, NoAudioError, UsageError, VidpipeError
from vidpipe.files import atomic_path, check_readable_file, write_files_together
from vidpipe.hashing import options_hash
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.stages import NO_AUDIO, has_no_audio
from vidpipe.types import Names

__all__ = [
    "EMBED_VERSION",
    "EmbedOptions",
    "EmbedSummary",
    "Hit",
    "PcaOutcome",
    "embed_audio",
    "embed_items",
    "embed_one",
    "export_embeddings",
    "fit_collection_pca",
    "similar",
]

EMBED_VERSION = 1
"""Bumped when the vectors of the same options change (a rerun then recomputes them)."""

ProgressCallback = Callable[[float, float], None]


class EmbedOptions(BaseModel):
    """How vectors are made (the ``embed`` stage's options).

    Attributes:
        model: ``whisper`` (= ``whisper:base``), ``whisper:tiny.en``, ``whisper:FOLDER``,
            ``wav2vec2:FOLDER`` (also ``hubert:``/``wavlm:``).
        pool: ``mean`` or ``meanstd`` (mean then standard deviation: twice the values).
        layer: hidden layer of a transformers encoder (``None``: the last).

    The default model is validated too (``whisper`` -> ``whisper:base``), so
    ``EmbedOptions()`` and ``EmbedOptions(model="whisper")`` name the same set of
    vectors (the same :meth:`key`).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: Annotated[str, Names("encoder")] = "whisper"
    pool: Literal["mean", "meanstd"] = "mean"
    layer: int | None = None

    @field_validator("model")
    @classmethod
    def _spec(cls, v: str) -> str:
        # imported here for start-up time: NumPy
        from vidpipe.embed.audio import parse_encoder

        try:
            return parse_encoder(v).name
        except UsageError as exc:
            raise ValueError(exc.one_line()) from None

    def key(self) -> str:
        """The ``options_hash`` of this set of vectors."""
        return options_hash(
            {"embed": EMBED_VERSION, "encoder": self.model, "pool": self.pool, "layer": self.layer}
        )


def _encoder(options: EmbedOptions, threads: int | None = None):
    # imported here for start-up time: NumPy
    from vidpipe.embed.audio import get_encoder, parse_encoder

    settings = get_settings()
    spec = parse_encoder(options.model)
    model_dir = None
    if spec.kind == "whisper":
        # imported here for start-up time: NumPy, ASR/TTS engines
        from vidpipe.speech.models import resolve_model

        model_dir = resolve_model(spec.model, settings.cache_dir)
    return get_encoder(
        spec,
        model_dir=model_dir,
        device=settings.device,
        compute_type=settings.compute_type,
        threads=threads or default_threads(),
        layer=options.layer,
    )


@dataclass
class _Clip:
    audio: np.ndarray
    duration: float
    channels: int | None
    sample_rate: int | None
    seconds: float


def _load(path: str | os.PathLike[str]) -> _Clip:
    """Decode ``path`` to 16 kHz mono and read its audio stream's channels and rate."""
    # imported here for start-up time: NumPy, PyAV
    from vidpipe.embed.audio import SAMPLE_RATE
    from vidpipe.media.audio import decode_audio
    from vidpipe.media.probe import probe

    t0 = time.perf_counter()
    info = probe(path)
    st = info.audio_streams[0] if info.audio_streams else None
    audio = decode_audio(path, SAMPLE_RATE)
    return _Clip(
        audio=audio,
        duration=audio.shape[0] / SAMPLE_RATE,
        channels=st.channels if st else None,
        sample_rate=st.sample_rate if st else None,
        seconds=time.perf_counter() - t0,
    )


def _latest_pca(catalog, key: str):
    # imported here for start-up time: NumPy
    from vidpipe.embed.pca import PcaModel

    row = catalog.latest_pca(key)
    return (PcaModel.from_bytes(row.data), row.version) if row is not None else (None, None)


def _store(catalog, media_id: int, options: EmbedOptions, key: str, vec, clip: _Clip, pca):
    model, version = pca
    reduced = model.transform(vec) if model is not None and model.dim == vec.shape[0] else None
    return catalog.save_embedding(
        media_id,
        encoder=options.model,
        opts_hash=key,
        pool=options.pool,
        vector=vec,
        duration=clip.duration,
        channels=clip.channels,
        sample_rate=clip.sample_rate,
        seconds=clip.seconds,
        reduced=reduced,
        pca_version=version if reduced is not None else None,
    )


def embed_one(
    catalog,
    media_id: int,
    options: EmbedOptions | None = None,
    threads: int | None = None,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> int:
    """Embed one catalog item (unless done with the same options); returns the row id.

    ``progress(seconds_done, seconds_total)`` in audio seconds after each encoded 30 s
    window; it may raise to stop (nothing is stored then).

    Raises:
        InputError: no such item.
        MediaError, NoAudioError: the audio cannot be decoded, is silent or missing.
        ModelError: the encoder cannot be loaded.
    """
    # imported here for start-up time: NumPy
    from vidpipe.embed.audio import embed_clips

    options = options or EmbedOptions()
    key = options.key()
    if not force:
        row = catalog.embedding(media_id, key)
        if row is not None:
            return row.id
    media = catalog.get_media(media_id)
    if media is None:
        raise InputError(f"no item with id {media_id} in the catalog", "see vidpipe report")
    encoder = _encoder(options, threads)
    clip = _load(media.path)
    t0 = time.perf_counter()
    name = Path(media.path).name
    vec = embed_clips(encoder, [clip.audio], options.pool, [name], audio_progress=progress)[0]
    clip.seconds += time.perf_counter() - t0
    return _store(catalog, media_id, options, key, vec, clip, _latest_pca(catalog, key))


@dataclass
class EmbedSummary:
    """What :func:`embed_items` did: counts, failures ``(media id, reason)``, items
    skipped because they have no audio track ``(media id, reason)``, the key."""

    key: str
    encoder: str
    embedded: int = 0
    already: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    audio_seconds: float = 0.0


def embed_items(
    catalog,
    media_ids: Sequence[int],
    options: EmbedOptions | None = None,
    *,
    threads: int | None = None,
    group: int = 8,
    progress: ProgressCallback | None = None,
) -> EmbedSummary:
    """Embed catalog items, ``group`` at a time (see the module doc).

    Args:
        catalog: an open :class:`~vidpipe.library.catalog.Catalog`.
        media_ids: items to embed (those done with the same options are skipped).
        options: encoder and pooling.
        threads: encoder CPU threads (default: every core).
        group: items decoded and encoded together.
        progress: ``progress(items_done, items_total)``.

    Returns:
        An :class:`EmbedSummary`; an item that fails (bad audio, silence) is listed in
        ``failures`` and recorded in the catalog's failures, the others go on. An item
        without an audio track (its recorded probe found none, or decoding finds none:
        a silent video, as ``vidpipe run`` ends ``done`` with ``skipped: no audio
        track``) is listed in ``skipped``, not failed.

    Raises:
        ModelError: the encoder cannot be loaded.
    """
    # imported here for start-up time: NumPy
    from vidpipe.embed.audio import embed_clips

    options = options or EmbedOptions()
    key = options.key()
    summary = EmbedSummary(key=key, encoder=options.model)
    todo = []
    for mid in dict.fromkeys(media_ids):
        if catalog.embedding(mid, key) is not None:
            summary.already += 1
        elif has_no_audio(catalog.get_media(mid)):
            summary.skipped.append((mid, NO_AUDIO))
        else:
            todo.append(mid)
    total = len(todo)
    if not todo:
        return summary
    encoder = _encoder(options, threads)
    pca = _latest_pca(catalog, key)
    t_start = time.perf_counter()
    done = 0
    for lo in range(0, total, max(1, group)):
        batch: list[tuple[int, str, _Clip]] = []
        for mid in todo[lo : lo + group]:
            media = catalog.get_media(mid)
            try:
                if media is None:
                    raise InputError(f"no item with id {mid} in the catalog")
                batch.append((mid, Path(media.path).name, _load(media.path)))
            except NoAudioError:
                summary.skipped.append((mid, NO_AUDIO))
            except VidpipeError as exc:
                _failed(catalog, summary, mid, exc)
        ready = []
        # imported here for start-up time: NumPy
        from vidpipe.embed.audio import prepare_clip

        for mid, name, clip in batch:
            try:
                prepare_clip(clip.audio, name)  # silence fails alone, not its group
                ready.append((mid, name, clip))
            except VidpipeError as exc:
                _failed(catalog, summary, mid, exc)
        if ready:
            t0 = time.perf_counter()
            vecs = embed_clips(encoder, [c.audio for _, _, c in ready], options.pool)
            share = (time.perf_counter() - t0) / len(ready)
            for (mid, _name, clip), vec in zip(ready, vecs, strict=True):
                clip.seconds += share
                _store(catalog, mid, options, key, vec, clip, pca)
                summary.embedded += 1
                summary.audio_seconds += clip.duration
        done += len(todo[lo : lo + group])
        if progress is not None:
            progress(float(done), float(total))
    summary.seconds = time.perf_counter() - t_start
    return summary


def _failed(catalog, summary: EmbedSummary, media_id: int, exc: VidpipeError) -> None:
    summary.failures.append((media_id, exc.one_line()))
    catalog.record_failure("embed", type(exc).__name__, exc.one_line(), media_id=media_id)


# --------------------------------------------------------------------------- PCA


@dataclass
class PcaOutcome:
    """What :func:`fit_collection_pca` did: ``version`` is None when it did not fit
    (``note`` says why; the raw vectors are kept)."""

    n_components: int
    n_items: int
    version: int | None = None
    explained: float | None = None  # fraction of the variance the components keep
    note: str | None = None


def fit_collection_pca(
    catalog, options: EmbedOptions | None, n_components: int, whiten: bool = False
) -> PcaOutcome:
    """Fit a PCA on every stored vector of ``options``; store it with the reduced vectors.

    With fewer items than ``n_components`` nothing is fitted: the outcome's ``note``
    says so and every raw vector stays as it is.
    """
    # imported here for start-up time: NumPy
    from vidpipe.embed.pca import fit_pca

    options = options or EmbedOptions()
    key = options.key()
    rows = catalog.embeddings(key)
    if len(rows) < n_components:
        return PcaOutcome(
            n_components,
            len(rows),
            note=f"PCA to {n_components} dimensions needs at least {n_components} items, "
            f"there are {len(rows)}: the raw vectors are kept",
        )
    x = np.stack([np.frombuffer(r.vector, dtype="<f4") for r in rows])
    model = fit_pca(x, n_components, whiten=whiten)
    reduced = model.transform(x)
    version = catalog.save_pca(
        encoder=options.model,
        opts_hash=key,
        data=model.to_bytes(),
        n_components=model.n_components,
        dim=model.dim,
        n_items=len(rows),
        whiten=whiten,
        reduced={r.id: reduced[i] for i, r in enumerate(rows)},
    )
    return PcaOutcome(n_components, len(rows), version=version, explained=model.explained_ratio)


# --------------------------------------------------------------------------- search


@dataclass
class Hit:
    """One neighbour: the item, its file, its source's record id and metadata, and
    the cosine similarity (-1..1)."""

    media_id: int
    score: float
    path: str
    record_id: str | None = None
    source: str | None = None
    meta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "score": round(self.score, 6),
            "path": self.path,
            "record_id": self.record_id,
            "source": self.source,
            "meta": self.meta,
        }


@dataclass
class _Index:
    media_ids: list[int]
    unit: np.ndarray  # (n, d) rows ready for cosine
    pca: Any
    mean: np.ndarray | None
    scale: np.ndarray | None
    dim: int


def _index(catalog, options: EmbedOptions) -> _Index:
    # imported here for start-up time: NumPy
    from vidpipe.embed.similar import prepare

    key = options.key()
    rows = catalog.embeddings(key)
    if not rows:
        raise InputError(
            f"no vectors stored for {options.model} ({options.pool})",
            "run vidpipe embed --all (or vidpipe run --steps ...,embed) first",
        )
    raw = np.stack([np.frombuffer(r.vector, dtype="<f4") for r in rows])
    pca, version = _latest_pca(catalog, key)
    mean = scale = None
    if pca is not None and all(r.pca_version == version and r.reduced for r in rows):
        unit = prepare(np.stack([np.frombuffer(r.reduced, dtype="<f4") for r in rows]))
    elif pca is not None:
        unit = prepare(raw, pca=pca)
    else:
        # imported here for start-up time: NumPy
        from vidpipe.embed.pca import standard_scale

        mean, scale = standard_scale(raw)
        unit = prepare(raw, mean=mean, scale=scale)
    return _Index([r.media_id for r in rows], unit, pca, mean, scale, raw.shape[1])


def _source_facts(catalog) -> dict[int, Any]:
    """The first non-skipped source of every item (the line that keeps its content)."""
    out: dict[int, Any] = {}
    for src in catalog.sources():
        if src.media_id is None:
            continue
        kept = out.get(src.media_id)
        if kept is None or (kept.state == "skipped" and src.state != "skipped"):
            out[src.media_id] = src
    return out


def similar(
    query: int | str | os.PathLike[str],
    k: int = 10,
    options: EmbedOptions | str | None = None,
    *,
    catalog=None,
    threads: int | None = None,
) -> list[Hit]:
    """The ``k`` stored items that sound most like ``query``, best first.

    Args:
        query: a catalog item id (its stored vector; the item itself is left out), or
            an audio/video file (embedded on the fly with the same options).
        k: how many neighbours.
        options: which set of vectors: :class:`EmbedOptions`, or an encoder spec
            (``"whisper:tiny.en"``, mean pooling); default ``whisper``, mean.
        catalog: an open catalog (default: the configured one).
        threads: encoder CPU threads for a file query.

    Returns:
        :class:`Hit` list (exact cosine over every stored vector of ``options``).

    Raises:
        InputError: no such item, no vectors stored, a missing file.
        MediaError, NoAudioError: the query file's audio cannot be used.
    """
    # imported here for start-up time: NumPy
    from vidpipe.embed.similar import prepare, top_k

    own = catalog is None
    if own:
        catalog = Catalog()
    try:
        if isinstance(options, str):
            options = EmbedOptions(model=options)
        options = options or EmbedOptions()
        idx = _index(catalog, options)
        exclude = None
        if isinstance(query, int) or (isinstance(query, str) and query.isdigit()):
            mid = int(query)
            if mid not in idx.media_ids:
                if catalog.get_media(mid) is None:
                    raise InputError(f"no item with id {mid} in the catalog", "see vidpipe report")
                raise InputError(
                    f"item {mid} has no {options.model} vector", f"run vidpipe embed {mid}"
                )
            q = idx.unit[idx.media_ids.index(mid)]
            exclude = mid
        else:
            # imported here for start-up time: NumPy
            from vidpipe.embed.audio import embed_clips

            path = check_readable_file(query)
            clip = _load(path)
            vec = embed_clips(_encoder(options, threads), [clip.audio], options.pool, [path.name])
            q = prepare(vec[0], pca=idx.pca, mean=idx.mean, scale=idx.scale)
        rows, scores = top_k(idx.unit, q, k + (1 if exclude is not None else 0))
        sources = _source_facts(catalog)
        hits: list[Hit] = []
        for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
            mid = idx.media_ids[r]
            if mid == exclude:
                continue
            media = catalog.get_media(mid)
            src = sources.get(mid)
            hits.append(
                Hit(
                    media_id=mid,
                    score=float(s),
                    path=media.path if media else "",
                    record_id=src.record_id if src else None,
                    source=src.uri if src else None,
                    meta=src.meta if src else None,
                )
            )
        return hits[:k]
    finally:
        if own:
            catalog.close()


# --------------------------------------------------------------------------- export

EXPORT_SUFFIXES = (".npy", ".jsonl", ".parquet")


def export_embeddings(
    catalog, path: str | os.PathLike[str], options: EmbedOptions | None = None, raw: bool = False
) -> list[Path]:
    """Write every stored vector of ``options`` with its item's ids and source metadata.

    Formats (by ``path``'s suffix): ``.npy`` (an ``(n, d)`` float32 array) beside
    ``<path>.json`` (``{"encoder", "pool", "vectors": "raw"|"pca-vN", "dim", "items":
    [{"media_id", "record_id", "source", "meta", "duration", "channels", ...}]}``,
    row i of the array is item i), ``.jsonl`` (one object per item with ``"vector"``),
    ``.parquet`` (one row per item, the vector as a list column; needs pyarrow).
    Vectors are the PCA-reduced ones when the set has a PCA (unless ``raw``), else raw.
    Items are in input order (the position of the source that keeps their content),
    then by id. Files appear together, atomically.

    Returns:
        The paths written.

    Raises:
        UsageError: an unknown suffix, or pyarrow missing for ``.parquet``.
        InputError: no vectors stored for ``options``.
        OutputError: the files cannot be written.
    """
    dest = Path(path)
    suffix = dest.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise UsageError(
            f"cannot export embeddings as {suffix or 'a file without an extension'!r}",
            "use a .npy, .jsonl or .parquet file name",
        )
    options = options or EmbedOptions()
    key = options.key()
    rows = catalog.embeddings(key)
    if not rows:
        raise InputError(
            f"no vectors stored for {options.model} ({options.pool})",
            "run vidpipe embed --all first",
        )
    pca_row = catalog.latest_pca(key)
    use_reduced = (
        not raw and pca_row is not None and all(r.pca_version == pca_row.version for r in rows)
    )
    col = "reduced" if use_reduced else "vector"
    sources = _source_facts(catalog)
    last = float("inf")  # items in input order (their source's position), then by id
    rows.sort(key=lambda r: (getattr(sources.get(r.media_id), "position", last), r.media_id))
    x = np.stack([np.frombuffer(getattr(r, col), dtype="<f4") for r in rows])
    items = []
    for r in rows:
        src = sources.get(r.media_id)
        media = catalog.get_media(r.media_id)
        items.append(
            {
                "media_id": r.media_id,
                "record_id": src.record_id if src else None,
                "source": src.uri if src else None,
                "path": media.path if media else None,
                "meta": src.meta if src else None,
                "duration": r.duration,
                "channels": r.channels,
                "sample_rate": r.sample_rate,
                "seconds": r.seconds,
            }
        )
    what = f"pca-v{pca_row.version}" if use_reduced else "raw"
    head = {"encoder": options.model, "pool": options.pool, "vectors": what, "dim": x.shape[1]}
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, x.astype("<f4"), allow_pickle=False)
        side = dest.with_name(dest.name + ".json")
        doc = json.dumps(head | {"items": items}, ensure_ascii=False, indent=1) + "\n"
        return write_files_together({dest: buf.getvalue(), side: doc})
    if suffix == ".jsonl":
        lines = [
            json.dumps(head | it | {"vector": [float(v) for v in x[i]]}, ensure_ascii=False)
            for i, it in enumerate(items)
        ]
        return write_files_together({dest: "\n".join(lines) + "\n"})
    try:
        # imported here for start-up time: pyarrow
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("writing .parquet needs pyarrow", "pip install pyarrow") from None
    table = pa.table(
        {
            "media_id": [it["media_id"] for it in items],
            "record_id": [it["record_id"] for it in items],
            "source": [it["source"] for it in items],
            "path": [it["path"] for it in items],
            "meta": [json.dumps(it["meta"], ensure_ascii=False) for it in items],
            "duration": [it["duration"] for it in items],
            "channels": [it["channels"] for it in items],
            "vector": pa.array(list(x), type=pa.list_(pa.float32())),
        }
    )
    table = table.replace_schema_metadata({"vidpipe": json.dumps(head)})
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp)
    return [dest]


# --------------------------------------------------------------------------- public API


def embed_audio(
    path_or_array: str | os.PathLike[str] | np.ndarray,
    model: str = "whisper",
    pool: Literal["mean", "meanstd"] = "mean",
    *,
    sample_rate: int = 16000,
    layer: int | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """One raw embedding vector of a recording.

    Args:
        path_or_array: an audio or video file, or samples (``(n,)`` mono or ``(n, 2)``
            float32 in [-1, 1] at ``sample_rate`` Hz; resampled to 16 kHz if needed).
        model: ``whisper`` (``whisper:base``, 512 values), ``whisper:tiny.en`` (384),
            ``whisper:FOLDER``, ``wav2vec2:FOLDER`` (its hidden size).
        pool: ``mean``, or ``meanstd`` (twice as many values).
        sample_rate: the array's rate in Hz (ignored for a file).
        layer: hidden layer of a transformers encoder.
        threads: CPU threads (default: every core).
        progress: ``progress(seconds_done, seconds_total)`` in audio seconds after each
            encoded 30 s window; may raise to stop.

    Returns:
        ``(dim,)`` float32: the mean (and standard deviation) of the encoder's frame
        states over the real audio (Whisper: 50 frames per second), not normalised.
        To compare recordings, centre by a collection's mean (or its PCA) and
        L2-normalise first (:func:`similar` does).

    Raises:
        InputError, MediaError, NoAudioError: the file cannot be used, or the audio
            is empty, shorter than 20 ms, or silent.
        ModelError, UsageError: see :func:`vidpipe.embed.audio.get_encoder`.
    """
    # imported here for start-up time: NumPy
    from vidpipe.embed.audio import SAMPLE_RATE, embed_clips

    options = EmbedOptions(model=model, pool=pool, layer=layer)
    if isinstance(path_or_array, np.ndarray):
        audio = np.asarray(path_or_array, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if sample_rate != SAMPLE_RATE and audio.size:
            # imported here for start-up time: SciPy
            from scipy.signal import resample_poly  # scipy comes with scikit-learn

            g = gcd(int(sample_rate), SAMPLE_RATE)
            audio = resample_poly(audio, SAMPLE_RATE // g, int(sample_rate) // g)
            audio = audio.astype(np.float32)
        name = "the array"
    else:
        audio = _load(path_or_array).audio
        name = Path(path_or_array).name
    encoder = _encoder(options, threads)
    return embed_clips(encoder, [audio], options.pool, [name], audio_progress=progress)[0]
