#!/usr/bin/env python3
"""Rebuild ``examples/speech_bunny.mp4`` from the shared real-media folder.

The example video is assembled only from redistributable sources:

* picture: the first seconds of *Big Buck Bunny* (c) Blender Foundation,
  CC BY 3.0 (``video/moviepy_big_buck_bunny_0_30.webm``); its own music
  track is dropped;
* sound: JFK's inaugural-address excerpt (public domain,
  ``en_short/jfk.flac``) followed by two LJSpeech sentences (public domain,
  ``en_dev/LJ001-0001.wav`` and ``en_dev/LJ001-0002.wav``).

Everything is done with PyAV (no ffmpeg executable).  The output is
H.264 (yuv420p, 640x360, 24 fps, CRF 28) + AAC-LC mono 44.1 kHz in an MP4
with ``+faststart``; audio and video have the same length.  Inputs are
checked against their SHA-256 so that the result is reproducible.

Usage (from the repository root)::

    python examples/make_example.py                       # uses ../shared/data
    python examples/make_example.py --data /path/to/data --out /tmp/x.mp4
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent / "speech_bunny.mp4"

VIDEO_SOURCE = (
    "video/moviepy_big_buck_bunny_0_30.webm",
    "3f75b7340272df508ebc95ca57c8e30089069310762547b7b45c189e8b4987d5",
)
# (relative path, sha256, seconds of silence inserted after the clip)
SPEECH_SOURCES = (
    ("en_short/jfk.flac", "63a4b1e4c1dc655ac70961ffbf518acd249df237e5a0152faae9a4a836949715", 0.75),
    (
        "en_dev/LJ001-0001.wav",
        "4d2bd83ff0f7fe33491b03193abdf623f1b4cc2d8103972b33638d3607d86dc5",
        0.25,
    ),
    (
        "en_dev/LJ001-0002.wav",
        "6563390fa42121eeeab15f49fa91fd26afe000022bfdaaa882f06224ad549599",
        0.0,
    ),
)
LEAD_IN = 0.25  # seconds of silence before the first word
TAIL = 0.5  # minimum seconds of silence after the last word

SAMPLE_RATE = 44100
FPS = 24
WIDTH, HEIGHT = 640, 360
CRF = 28
AUDIO_BITRATE = 64_000
TARGET_RMS_DBFS = -20.0  # loudness the speech clips are brought to
PEAK_LIMIT_DBFS = -1.0  # ...without any sample exceeding this

METADATA = {
    "title": "vidpipe example: Big Buck Bunny with public-domain speech",
    "artist": "Blender Foundation (video); J. F. Kennedy, LJSpeech (speech)",
    "copyright": "Video (c) Blender Foundation, CC BY 3.0, "
    "www.bigbuckbunny.org; speech public domain",
    "comment": "Picture: Big Buck Bunny (c) copyright 2008 Blender Foundation, "
    "CC BY 3.0. Sound replaced with JFK inaugural address excerpt "
    "(public domain) and LJSpeech LJ001-0001..0002 (public domain). "
    "See examples/README.md.",
}


def _checked(data: Path, rel: str, sha256: str) -> Path:
    path = data / rel
    if not path.is_file():
        sys.exit(f"missing input: {path} (pass --data to point at the shared data folder)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"unexpected contents of {path}: sha256 {digest}, expected {sha256}")
    return path


def _load_mono(path: Path) -> np.ndarray:
    """Decode *path* to float32 mono at SAMPLE_RATE (channels are averaged)."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(
            format="fltp", layout=stream.codec_context.layout, rate=SAMPLE_RATE
        )
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    planar = np.concatenate(chunks, axis=1).astype(np.float64)  # (channels, samples)
    return planar.mean(axis=0)


def _level(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2))
    gain = min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_LIMIT_DBFS / 20) / np.max(np.abs(x)))
    return x * gain


def build_speech(data: Path) -> np.ndarray:
    parts = [np.zeros(round(LEAD_IN * SAMPLE_RATE))]
    for rel, sha, gap in SPEECH_SOURCES:
        parts.append(_level(_load_mono(_checked(data, rel, sha))))
        parts.append(np.zeros(round(gap * SAMPLE_RATE)))
    parts.append(np.zeros(round(TAIL * SAMPLE_RATE)))
    speech = np.concatenate(parts)
    # Round up to an even number of video frames so that the audio length
    # (in samples) and the video length (in frames) are exactly equal.
    frames = int(np.ceil(len(speech) * FPS / SAMPLE_RATE))
    frames += frames % 2
    total = frames * SAMPLE_RATE // FPS
    speech = np.pad(speech, (0, total - len(speech)))
    return speech.astype(np.float32)


def _source_frames(path: Path):
    """Yield (time, frame) forever, looping the source if it is too short."""
    offset = 0.0
    while True:
        last = None
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            step = 1 / float(stream.average_rate or FPS)
            for frame in container.decode(stream):
                last = offset + float(frame.time)
                yield last, frame
        if last is None:
            raise RuntimeError(f"no video frames in {path}")
        offset = last + step


def write_video(data: Path, speech: np.ndarray, out_path: Path) -> None:
    src = _checked(data, *VIDEO_SOURCE)
    n_frames = len(speech) * FPS // SAMPLE_RATE
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")

    with av.open(
        str(tmp), mode="w", format="mp4", options={"movflags": "+faststart", "fflags": "+bitexact"}
    ) as out:
        out.metadata.update(METADATA)

        vst = out.add_stream(
            "libx264",
            rate=FPS,
            options={
                "crf": str(CRF),
                "preset": "medium",
                "g": str(2 * FPS),
            },
        )
        vst.width, vst.height, vst.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vst.codec_context.time_base = Fraction(1, FPS)
        vst.codec_context.thread_count = 2  # fixed for reproducible output

        ast = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        ast.bit_rate = AUDIO_BITRATE
        ast.codec_context.flags |= av.codec.context.Flags.bitexact

        # Video frame i shows the latest source frame at or before i / FPS
        # (the source is 24 fps, so this is a plain copy; a shorter source
        # would be looped).  Audio is encoded in 1024-sample AAC frames and
        # interleaved with the video in time order.
        def audio_until(t_end: float, pos: int) -> int:
            end = min(len(speech), round(t_end * SAMPLE_RATE))
            while pos < end:
                chunk = speech[np.newaxis, pos : pos + 1024]
                aframe = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk), format="fltp", layout="mono"
                )
                aframe.sample_rate = SAMPLE_RATE
                aframe.pts, aframe.time_base = pos, Fraction(1, SAMPLE_RATE)
                out.mux(ast.encode(aframe))
                pos += 1024
            return pos

        frames = _source_frames(src)
        _, cur = next(frames)
        nxt_t, nxt = next(frames)
        apos = 0
        for i in range(n_frames):
            t = i / FPS
            while nxt_t <= t + 1e-6:
                cur = nxt
                nxt_t, nxt = next(frames)
            frame = cur.reformat(width=WIDTH, height=HEIGHT, format="yuv420p", interpolation="AREA")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(vst.encode(frame))
            apos = audio_until((i + 1) / FPS, apos)
        frames.close()
        audio_until(len(speech) / SAMPLE_RATE + 1, apos)
        out.mux(vst.encode(None))
        out.mux(ast.encode(None))
    tmp.replace(out_path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"shared data folder (default: {DEFAULT_DATA})",
    )
    ap.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})"
    )
    args = ap.parse_args(argv)

    speech = build_speech(args.data)
    write_video(args.data, speech, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(speech) / SAMPLE_RATE:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
