"""Peak memory of ``speak`` by text length: streaming to a file vs keeping the audio.

Each run is a child process (this script with ``--one``), so its peak RSS
(``ru_maxrss``) is its own. The text is the LJ Speech sentences of
``tests/data/en_dev/transcripts.tsv`` (public domain), repeated to ``--kb`` kilobytes in
paragraphs of three sentences, spoken by the bundled ``joe`` voice into a WAV file:

* ``stream``: :func:`vidpipe.speech.tts.speak` with ``out`` (the default: only the
  sentence being synthesized is in memory);
* ``keep``: the same with ``keep_audio=True``, which holds every sample as the old
  ``speak`` did (about 88 KB per second of speech at 22050 Hz, plus the final copy).

``--max-sentences N`` caps synthesis at the first N sentences (the whole text is still
read, split and planned), for texts that would take hours to speak, e.g. 1 MB.
Prints one table row per run (prints, no asserts). Synthesis is about 0.07 s of CPU per
second of speech on this machine: 20 KB of text is about 20 minutes of speech.

Measured (2 shared cores, joe voice, onnxruntime's CPU memory arena on, as vidpipe
runs it), peak RSS: 2 KB of text (2 min of speech) 588 MB streamed / 602 MB kept;
5 KB (5 min) 783 MB streamed; 20 KB (19 min) 903 MB streamed / 1284 MB kept; 1 MB
(read, split and planned whole, 40 sentences spoken) 836 MB streamed. Streamed, the
peak is set by onnxruntime's arena, which keeps the high-water mark of the largest
sentence's activations (it levels off near 1.1 GB within about 90 sentences and stays
there); kept, it grows by about 2 x 88 KB per second of speech (the samples and their
final concatenation): about 11 GB for the 16 hours of speech of 1 MB of text.

Usage::

    python benchmarks/speak_memory.py --kb 2 20 --modes stream keep
    python benchmarks/speak_memory.py --kb 1024 --max-sentences 200
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).parents[1] / "tests" / "data" / "en_dev" / "transcripts.tsv"


def make_text(kb: int) -> str:
    """About ``kb`` kilobytes of English text, paragraphs of three sentences."""
    with DATA.open(encoding="utf-8") as fh:
        rows = [
            r["transcript"].strip().rstrip(".") + "." for r in csv.DictReader(fh, delimiter="\t")
        ]
    paras = [" ".join(rows[i : i + 3]) for i in range(0, len(rows), 3)]
    out: list[str] = []
    size = 0
    i = 0
    while size < kb * 1024:
        out.append(paras[i % len(paras)])
        size += len(out[-1]) + 2
        i += 1
    return "\n\n".join(out)


def one(kb: int, mode: str, max_sentences: int | None) -> dict:
    from vidpipe.speech.tts import get_voice, iter_sentences, speak

    text = make_text(kb)
    if max_sentences:
        plan = list(iter_sentences(text))  # the whole text is split and planned
        cut = plan[max_sentences - 1][0] if len(plan) > max_sentences else None
        if cut is not None:
            paras = text.split("\n\n")
            text = "\n\n".join(paras[: cut + 1])
    voice = get_voice()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = speak(text, Path(tmp) / "speech.wav", voice=voice, keep_audio=mode == "keep")
        wall = time.perf_counter() - t0
    return {
        "kb": kb,
        "mode": mode,
        "sentences": len(result.sentences),
        "speech_s": round(result.duration, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kb", type=int, nargs="+", default=[2, 20])
    ap.add_argument("--modes", nargs="+", default=["stream", "keep"], choices=["stream", "keep"])
    ap.add_argument("--max-sentences", type=int, default=None)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.kb[0], args.modes[0], args.max_sentences)))
        return
    head = ("text KB", "mode", "sentences", "speech s", "wall s", "peak RSS MB")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (8, 7, 9, 9, 7, 12), strict=True)))
    for kb in args.kb:
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--one", "--kb", str(kb), "--modes", mode]
            if args.max_sentences:
                cmd += ["--max-sentences", str(args.max_sentences)]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            print(
                f"{row['kb']:>8} {row['mode']:>7} {row['sentences']:>9} {row['speech_s']:>9} "
                f"{row['wall_s']:>7} {row['peak_rss_mb']:>12}",
                flush=True,
            )


if __name__ == "__main__":
    main()
