"""ASR benchmark: WER and real-time factor of vidpipe vs bare faster-whisper, in one run.

Systems (same model files, same compute type and threads, same decoding options):

* ``vidpipe``         — ``vidpipe.transcribe(path, sentence_segments=False)``: PyAV
  decode + batched pipeline + VAD, options identical to the baseline.
* ``vidpipe+sentences`` — the default ``vidpipe.transcribe(path)``, which also aligns
  words to split chunk segments into sentences (extra work the baseline does not do).
* ``bare-batched``    — faster-whisper's ``BatchedInferencePipeline.transcribe(path)``
  with identical options (the baseline for the vidpipe/bare ratio).
* ``bare-sequential`` — faster-whisper's ``WhisperModel.transcribe(path)`` with its
  defaults plus VAD: the usual sequential decoding, for reference.

Data: ``en_dev`` (32 LJSpeech sentences, exact text) and ``en_long`` (the Bush radio
address, 2:07, official text) from ``../shared/data`` (or ``--data``). WER uses
``whisper_normalizer``'s English normalizer on both sides and jiwer.

RTF = wall-clock seconds / audio seconds (decode included). Each long-form run is
repeated ``--repeat`` times and the median reported. Prints; asserts nothing.

Targets (2-core machine, ``base``, int8): long-form RTF <= 0.06 and
vidpipe / bare-batched <= 1.05.

Usage: ``python benchmarks/asr.py [--model base] [--repeat 3] [--data ../shared/data]``
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import jiwer
from faster_whisper import BatchedInferencePipeline, WhisperModel
from whisper_normalizer.english import EnglishTextNormalizer

import vidpipe
from vidpipe.config import default_threads
from vidpipe.media.audio import decode_audio
from vidpipe.speech.engine import TranscribeOptions
from vidpipe.speech.models import resolve_model
from vidpipe.speech.whisper import FasterWhisperEngine, whisper_kwargs

ROOT = Path(__file__).resolve().parents[1]
normalize = EnglishTextNormalizer()


def load_sets(data: Path) -> dict[str, list[tuple[Path, str]]]:
    """Return ``{set name: [(audio path, reference text)]}``."""
    sets: dict[str, list[tuple[Path, str]]] = {}
    en_dev = data / "en_dev"
    if not en_dev.is_dir():
        en_dev = ROOT / "tests" / "data" / "en_dev"
    with open(en_dev / "transcripts.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    rows.sort(key=lambda r: r["file"])
    sets["en_dev"] = [(en_dev / r["file"], r["transcript"]) for r in rows]
    long_wav = data / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"
    if long_wav.is_file():
        raw = (data / "en_long" / "gb0_reference.txt").read_text(encoding="utf-8")
        # '#' lines are provenance notes; {{...}} marks words completed from the audio.
        lines = [ln for ln in raw.splitlines() if not ln.lstrip().startswith("#")]
        ref = " ".join(lines).replace("{{", "").replace("}}", "")
        sets["en_long"] = [(long_wav, ref)]
    return sets


def _plain(text: str) -> str:
    # Whisper's English normalizer deletes everything inside parentheses (it treats
    # them as annotations such as "(laughs)"); in LJSpeech they are ordinary
    # punctuation around spoken words (LJ001-0024), so keep the words.
    return text.replace("(", " ").replace(")", " ")


def wer(refs: list[str], hyps: list[str]) -> float:
    return jiwer.wer([normalize(_plain(r)) for r in refs], [normalize(_plain(h)) for h in hyps])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--repeat", type=int, default=3, help="runs per long-form file (median)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    sets = load_sets(args.data)
    threads = default_threads()
    options = TranscribeOptions(batch_size=args.batch_size, sentence_segments=False)
    model_dir = str(resolve_model(args.model))
    engine = FasterWhisperEngine(args.model, threads=threads)
    bare_model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
    bare_pipeline = BatchedInferencePipeline(model=bare_model)
    kwargs = whisper_kwargs(options)
    kwargs.pop("condition_on_previous_text")

    def run_vidpipe(path: Path) -> str:
        return vidpipe.transcribe(
            path, engine=engine, batch_size=options.batch_size, sentence_segments=False
        ).text

    def run_vidpipe_sentences(path: Path) -> str:
        return vidpipe.transcribe(path, engine=engine, batch_size=options.batch_size).text

    def run_bare_batched(path: Path) -> str:
        segs, _ = bare_pipeline.transcribe(str(path), batch_size=options.batch_size, **kwargs)
        return " ".join(s.text.strip() for s in segs)

    def run_bare_sequential(path: Path) -> str:
        segs, _ = bare_model.transcribe(str(path), beam_size=options.beam_size, vad_filter=True)
        return " ".join(s.text.strip() for s in segs)

    systems = {
        "vidpipe": run_vidpipe,
        "vidpipe+sentences": run_vidpipe_sentences,
        "bare-batched": run_bare_batched,
        "bare-sequential": run_bare_sequential,
    }
    # Warm-up: first inference pays one-off costs (allocations, VAD model load).
    warm = sets["en_dev"][0][0]
    for fn in systems.values():
        fn(warm)

    print(
        f"model {args.model}, int8, {threads} threads, batch size {options.batch_size}, "
        f"beam {options.beam_size}, VAD on"
    )
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for set_name, items in sets.items():
        audio_seconds = sum(decode_audio(p).shape[0] / 16000 for p, _ in items)
        repeat = args.repeat if set_name == "en_long" else 1
        for sys_name, fn in systems.items():
            walls, hyps = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                hyps = [fn(p) for p, _ in items]
                walls.append(time.perf_counter() - t0)
            w = wer([r for _, r in items], hyps)
            rtf = statistics.median(walls) / audio_seconds
            results[(set_name, sys_name)] = (w, rtf)
            print(
                f"  {set_name:8s} {sys_name:16s} audio {audio_seconds:7.1f} s  "
                f"WER {w * 100:6.2f} %  RTF {rtf:.4f}  (runs: "
                f"{', '.join(f'{x:.2f}' for x in walls)} s)",
                flush=True,
            )

    print("\nratios (vidpipe / baseline, same run):")
    for set_name in sets:
        for ours in ("vidpipe", "vidpipe+sentences"):
            w_v, r_v = results[(set_name, ours)]
            for base in ("bare-batched", "bare-sequential"):
                w_b, r_b = results[(set_name, base)]
                print(
                    f"  {set_name:8s} {ours:17s} / {base:16s} RTF ratio {r_v / r_b:.3f}   "
                    f"WER difference {(w_v - w_b) * 100:+.2f} points"
                )
    if "en_long" in sets:
        _, r_long = results[("en_long", "vidpipe")]
        _, r_bare = results[("en_long", "bare-batched")]
        print(
            f"\ntargets: long-form RTF {r_long:.4f} (target <= 0.06: "
            f"{'met' if r_long <= 0.06 else 'NOT met'}); vidpipe/bare {r_long / r_bare:.3f} "
            f"(target <= 1.05: {'met' if r_long / r_bare <= 1.05 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
