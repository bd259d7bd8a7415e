"""Speaker diarization benchmark: DER, speaker-count accuracy and RTF, in one run.

Systems:

* ``vidpipe``     — :func:`vidpipe.speakers.diarize` on the decoded audio (decode included
  in the time; models loaded once before timing).
* ``one-speaker`` — the trivial baseline: the whole file is one speaker's turn.
* ``oracle-vad``  — the reference's own speech regions, all one speaker (perfect voice
  activity, no speaker change): what a perfect VAD with no diarization scores.

Data: the dev set ``tests/data/diarization`` (six recordings, 2-4 speakers, reference
RTTM; or ``--data``). DER with pyannote.metrics' conventions (collar 0.5 s in total
around reference boundaries, overlap scored), errors and reference speech summed over
the files, each file scored over [0, duration]. RTF = wall-clock seconds / audio seconds
(decode included, after one warm-up run); CPU seconds per audio second and the load
average are printed too, since this machine is shared.

Targets (2-core machine): DER <= 20 %, RTF <= 0.1. Prints; asserts nothing.

With ``--transcribe MODEL`` (e.g. ``tiny.en``, ``base``) it also times transcription of
the same files with word timestamps (``vidpipe.transcribe``, model loaded before timing)
and the speaker assignment (:func:`vidpipe.speakers.assign_speakers`): what
``vidpipe transcribe --diarize`` costs beside diarization.

Usage: ``python benchmarks/diarize.py [--data tests/data/diarization] [--threshold T]
[--transcribe MODEL]``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import os
import time

from vidpipe.media.audio import decode_audio
from vidpipe.speakers import (
    THRESHOLD,
    SpeakerTurn,
    der_components,
    diarize,
    read_rttm,
)
from vidpipe.speakers.metrics import DERComponents

ROOT = Path(__file__).resolve().parents[1]


def _merge(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    spans: list[list[float]] = []
    for t in sorted(turns, key=lambda t: t.start):
        if spans and t.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], t.end)
        else:
            spans.append([t.start, t.end])
    return [SpeakerTurn(start=a, end=b, speaker="A") for a, b in spans]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "diarization")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--transcribe", metavar="MODEL", help="also time transcription with MODEL")
    args = ap.parse_args()
    files = sorted(args.data.glob("*.wav"))
    if not files:
        sys.exit(f"no .wav files in {args.data}")
    # load the models and warm them up (first-call allocations) outside the timing
    diarize(decode_audio(files[0]))
    totals = {"vidpipe": DERComponents(), "one-speaker": DERComponents(), "oracle-vad": {}}
    totals["oracle-vad"] = DERComponents()
    right = 0
    seconds = wall = cpu = 0.0
    print(f"{'file':28s} {'dur':>5s} {'ref':>3s} {'hyp':>3s} {'DER':>6s} {'1-spk':>6s} {'RTF':>6s}")
    for f in files:
        ref = read_rttm(f.with_suffix(".rttm"))[f.stem]
        t0, c0 = time.perf_counter(), time.process_time()
        audio = decode_audio(f)
        result = diarize(audio, threshold=args.threshold)
        dt = time.perf_counter() - t0
        cpu += time.process_time() - c0
        dur = audio.size / 16000
        uem = (0.0, dur)
        mine = der_components(ref, result.turns, uem=uem)
        one = der_components(ref, [SpeakerTurn(start=0, end=dur, speaker="A")], uem=uem)
        oracle = der_components(ref, _merge(ref), uem=uem)
        totals["vidpipe"] += mine
        totals["one-speaker"] += one
        totals["oracle-vad"] += oracle
        n_ref = len({t.speaker for t in ref})
        right += n_ref == len(result.speakers)
        seconds += dur
        wall += dt
        print(
            f"{f.name:28s} {dur:5.1f} {n_ref:3d} {len(result.speakers):3d} "
            f"{mine.der:6.3f} {one.der:6.3f} {dt / dur:6.3f}"
        )
    print()
    for name, c in totals.items():
        print(
            f"{name:12s} DER {c.der:6.3f}  (missed {c.missed:5.1f} s, false alarm "
            f"{c.false_alarm:5.1f} s, confusion {c.confusion:5.1f} s of {c.total:5.1f} s)"
        )
    print(f"speaker count right: {right}/{len(files)}")
    print(f"vidpipe RTF {wall / seconds:.3f} ({wall:.1f} s for {seconds:.1f} s of audio)")
    print(f"vidpipe CPU seconds per audio second {cpu / seconds:.3f} (all threads)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.transcribe:
        _transcription(files, args.transcribe, seconds, wall)


def _transcription(files: list[Path], model: str, seconds: float, diarize_wall: float) -> None:
    """Time transcription (word timestamps) and speaker assignment on ``files``."""
    from vidpipe import transcribe
    from vidpipe.speakers import assign_speakers

    transcribe(files[0], model=model, word_timestamps=True)  # load and warm up
    asr = assign = 0.0
    for f in files:
        t0 = time.perf_counter()
        tr = transcribe(f, model=model, word_timestamps=True)
        t1 = time.perf_counter()
        assign_speakers(tr, diarize(decode_audio(f)).turns)
        t2 = time.perf_counter()
        asr += t1 - t0
        assign += t2 - t1  # diarization again plus the assignment
    both = asr + diarize_wall
    print(
        f"transcription ({model}, word times) RTF {asr / seconds:.3f} ({asr:.1f} s); "
        f"with diarization, transcribe --diarize is about RTF {both / seconds:.3f} "
        f"(diarization {diarize_wall / both:.0%} of it); diarize + assign_speakers "
        f"measured again: {assign:.1f} s"
    )


if __name__ == "__main__":
    main()
