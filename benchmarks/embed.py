"""Audio embedding benchmark: vidpipe's batched in-memory pipeline vs the usual script
(prints, no asserts).

Two ways to turn recordings into Whisper encoder vectors, with the same CTranslate2
Whisper encoder (``--model``, default the bundled ``base``; int8, 2 threads), the same
30 s windows and the same mean pooling over real frames:

* ``vidpipe``: :func:`vidpipe.media.audio.decode_audio` (PyAV, in memory, 16 kHz mono)
  and :func:`vidpipe.embed.audio.embed_clips` on groups of 8 files (windows encoded one
  per call on CPU, vidpipe's default: batches of 8 cost more CPU here).
* ``usual``: what the usual script does per file: MoviePy (the ``bench`` extra)
  ``AudioFileClip(path).write_audiofile(tmp.wav, fps=16000)`` (an ffmpeg child process
  writes a temporary wav), the wav read back with :mod:`wave`, then one encoder call per
  file (its windows only), through faster-whisper's ``FeatureExtractor``.

Inputs: 40 short files (the 32 LJSpeech sentences of ``tests/data/en_dev``, ``jfk.flac``,
the Russian and Chinese clips of ``tests/data``, then ``../shared/data/en_short`` files
to make 40) and the 2-minute Bush radio address of ``../shared/data/en_long`` (when
present). Reported: wall seconds, CPU seconds (this process and its children: MoviePy's
ffmpeg), files per minute, audio hours per CPU hour, and the ratio vidpipe / usual
(target: at least 2x files per minute on the short files).

Search: ``--items`` (default 100 000) random 512-dimensional float32 vectors stored in
a SQLite catalog (bulk insert), loaded once as :func:`vidpipe.pipeline.embed.similar`
does, then ``--queries`` exact cosine queries (:func:`vidpipe.embed.similar.top_k`,
k=10): load time and median / 95th percentile milliseconds per query (target: under 50).

Usage::

    pip install -e ".[bench]" && python benchmarks/embed.py [--model base] [--items 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = Path(os.environ.get("VIDPIPE_SHARED_DATA") or ROOT.parent / "shared" / "data")
SR = 16000


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def short_files() -> list[Path]:
    files = [*sorted((DATA / "en_dev").glob("*.wav")), DATA / "jfk.flac"]
    files += sorted((DATA / "ru").glob("*.wav")) + sorted((DATA / "zh").glob("*.wav"))
    extra = sorted((SHARED / "en_short").glob("*.wav")) if SHARED.is_dir() else []
    files += extra[: max(0, 40 - len(files))]
    while len(files) < 40:  # without the shared data: repeat tests/data files
        files.append(files[len(files) % 32])
    return files[:40]


def run_vidpipe(encoder, files: list[Path]) -> tuple[float, float, float]:
    from vidpipe.embed.audio import embed_clips
    from vidpipe.media.audio import decode_audio

    t0, c0 = time.perf_counter(), _cpu()
    audio_s = 0.0
    for lo in range(0, len(files), 8):
        clips = [decode_audio(f, SR) for f in files[lo : lo + 8]]
        audio_s += sum(c.shape[0] for c in clips) / SR
        embed_clips(encoder, clips, "mean", group=8)
    return time.perf_counter() - t0, _cpu() - c0, audio_s


def run_usual(encoder, files: list[Path], tmp: Path) -> tuple[float, float, float]:
    from moviepy import AudioFileClip

    from vidpipe.embed.audio import embed_clips

    t0, c0 = time.perf_counter(), _cpu()
    audio_s = 0.0
    wav = tmp / "temp_audio.wav"  # the usual script's fixed temporary file
    for f in files:
        clip = AudioFileClip(str(f))
        clip.write_audiofile(str(wav), fps=SR, nbytes=2, codec="pcm_s16le", logger=None)
        clip.close()
        with wave.open(str(wav), "rb") as w:
            raw = w.readframes(w.getnframes())
            ch = w.getnchannels()
        a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        a = a.reshape(-1, ch).mean(axis=1)
        audio_s += a.shape[0] / SR
        embed_clips(encoder, [a], "mean", group=1)  # one encoder call per file
    return time.perf_counter() - t0, _cpu() - c0, audio_s


def report(name: str, n: int, wall: float, cpu: float, audio: float) -> float:
    fpm = n / wall * 60
    print(
        f"  {name:<8} {wall:7.1f} s wall {cpu:7.1f} s cpu  {fpm:7.1f} files/min  "
        f"{audio / 3600 / (cpu / 3600):7.1f} audio h per CPU h  ({audio:.0f} s of audio)"
    )
    return fpm


def bench_search(items: int, queries: int, dim: int = 512) -> None:
    from sqlalchemy import insert

    from vidpipe.embed.pca import standard_scale
    from vidpipe.embed.similar import prepare, top_k
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import EmbeddingRow, Media, utcnow

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        cat = Catalog(f"sqlite:///{Path(d) / 'catalog.db'}")
        t0 = time.perf_counter()
        with cat.session() as s:
            now = utcnow()
            s.execute(
                insert(Media),
                [
                    {"path": f"/m/{i}.mp4", "sha256": f"{i:064x}", "size": 1, "created_at": now}
                    for i in range(items)
                ],
            )
            vecs = rng.standard_normal((items, dim)).astype("<f4")
            s.execute(
                insert(EmbeddingRow),
                [
                    {
                        "media_id": i + 1,
                        "encoder": "whisper:base",
                        "options_hash": "bench",
                        "pool": "mean",
                        "dim": dim,
                        "vector": vecs[i].tobytes(),
                        "created_at": now,
                    }
                    for i in range(items)
                ],
            )
        stored = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = cat.embeddings("bench")
        raw = np.stack([np.frombuffer(r.vector, dtype="<f4") for r in rows])
        mean, scale = standard_scale(raw)
        index = prepare(raw, mean=mean, scale=scale)
        load = time.perf_counter() - t0
        times = []
        for q in rng.standard_normal((queries, dim)).astype(np.float32):
            t = time.perf_counter()
            top_k(index, prepare(q, mean=mean, scale=scale), 10)
            times.append((time.perf_counter() - t) * 1000)
        cat.close()
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"search over {items} stored {dim}-d vectors: stored in {stored:.1f} s, loaded in "
        f"{load:.1f} s; per query median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms "
        f"(target < 50 ms)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="base", help="bundled Whisper model (base, tiny.en)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-encode", action="store_true", help="only the search benchmark")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from vidpipe.embed.audio import get_encoder

    if not args.skip_encode:
        enc = get_encoder(f"whisper:{args.model}", threads=args.threads)
        enc.frames([np.zeros(SR, dtype=np.float32) + 0.01])  # warm up
        print(f"encoder whisper:{args.model} (dim {enc.dim}), {args.threads} threads, int8")
        sets = [("40 short files", short_files())]
        long = SHARED / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"
        if long.is_file():
            sets.append(("2-minute recording", [long]))
        with tempfile.TemporaryDirectory() as d:
            for label, files in sets:
                print(f"{label}:")
                v = report("vidpipe", len(files), *run_vidpipe(enc, files))
                u = report("usual", len(files), *run_usual(enc, files, Path(d)))
                print(f"  ratio vidpipe / usual: {v / u:.2f}x files per minute")
    bench_search(args.items, args.queries)


if __name__ == "__main__":
    main()
