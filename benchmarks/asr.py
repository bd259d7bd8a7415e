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

Collections of short files (issue 14), one run each: ``en_dev`` as one batch of 32
files, and ``mixed60``: 60 short clips cycling through ``en_short``, ``zh``, ``ru`` and
``other_lang`` (27 files, 9 languages). ``vidpipe transcribe FILE... -f txt,json`` runs
as a whole process (start-up, model load, packing, writing outputs included) against
bare faster-whisper file by file in this process with its model already loaded
(``bare-sequential``: ``WhisperModel.transcribe``, beam 5, VAD; ``bare-batched``: the
batched pipeline, beam 5, VAD), both detecting the language. Scores: WER (English
normaliser for English, basic normaliser otherwise), CER for Chinese, Japanese and
Korean, over the files with a reliable reference (the stereo two-speaker file and the
English/German code-switch are timed, not scored); language accuracy against the
reference's language.

Whole-process long form: ``vidpipe transcribe en_long.wav`` (default formats) against a
bare batched script (load, transcribe, write a TSV), median of ``--repeat`` runs.

Long-form Chinese, Japanese and Korean (issue 18, ``--parts cjk``): the four Mandarin
clips of ``zh`` with reference text joined five times with 0.8 s pauses (1:50), the
five speech clips with the untranscribed FunASR example (2:21, characters counted, not
scored), and the Japanese and the Korean clip of ``other_lang`` joined five times the
same way, each written as mp3; vidpipe's default and ``--batch-size 1`` against bare
faster-whisper batched and sequential (beam 5, VAD). Printed: characters kept (Han, Kana,
Hangul; punctuation and spaces removed, Simplified), CER against the joined references,
RTF, and whether ASCII commas stand in CJK text.

Queue workers (issue 19, ``--parts submit``): the same collections of short files,
with every file made distinct (a file that comes back in a set is written again as a
16 kHz WAV padded with 1, 2... samples of silence: the catalog records one item per
content, so ``submit`` would skip a repeat), through ``vidpipe submit --steps
transcribe`` and ONE ``vidpipe worker`` (``--concurrency 1``, the same threads) on a
SQLite queue and catalog in a temporary ``VIDPIPE_HOME``. The worker is started and
idle (its start line printed, no model loaded) before the clock starts; timed from the
``vidpipe submit`` process's start to the last job's ``finished_at`` (model load,
packing, the catalog and job files included). Measured in the same run on the same
files: ``vidpipe transcribe FILE... -f txt,json --word-timestamps`` (one process; a
transcribe job keeps word times, which sentence splitting computes in both) and bare
faster-whisper file by file (sequential and batched, as above). Targets: submit + worker within 10 %
of ``vidpipe transcribe FILE...``, at least 2x bare's best file by file.

Targets (2-core machine, ``base``, int8): long-form RTF <= 0.06; vidpipe / bare-batched
<= 1.05; short-file sets at least 2.5x bare's best files/min at a WER no more than 0.5
points worse; whole-process long form below the bare script.

Usage: ``python benchmarks/asr.py [--model base] [--repeat 3] [--data ../shared/data]
[--parts long,short,cjk,submit] [--sets en_dev,mixed60]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py (named by issue 10) would shadow the standard library's ``queue``
# (imported by more_itertools, concurrent.futures...): take this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import jiwer
from faster_whisper import BatchedInferencePipeline, WhisperModel
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

import vidpipe
from vidpipe.config import default_threads
from vidpipe.media.audio import decode_audio
from vidpipe.speech.engine import TranscribeOptions
from vidpipe.speech.models import resolve_model
from vidpipe.speech.whisper import FasterWhisperEngine, whisper_kwargs

ROOT = Path(__file__).resolve().parents[1]
normalize = EnglishTextNormalizer()
basic = BasicTextNormalizer()
CJK = ("zh", "ja", "ko")
UNSCORED = {"stereo_diarization.wav", "multilingual_en_de.mp3"}
BARE_SCRIPT = """
import sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=int(sys.argv[4]))
pipeline = BatchedInferencePipeline(model=model)
segments, info = pipeline.transcribe(sys.argv[2], batch_size=8, beam_size=5)
with open(sys.argv[3], "w", encoding="utf-8") as fh:
    for s in segments:
        fh.write(f"{s.start:.2f}\\t{s.end:.2f}\\t{s.text.strip()}\\n")
"""


def short_sets(data: Path) -> dict[str, list[tuple[Path, str, str]]]:
    """``{name: [(path, language, reference or "")]}``: en_dev as one batch and mixed60."""
    sets: dict[str, list[tuple[Path, str, str]]] = {}
    rows = []
    for folder in ("en_short", "zh", "ru", "other_lang"):
        tsv = data / folder / "transcripts.tsv"
        refs = {}
        if tsv.is_file():
            with open(tsv, encoding="utf-8") as fh:
                refs = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
        for f in sorted((data / folder).iterdir()):
            if f.suffix.lower() not in (".wav", ".mp3", ".flac"):
                continue
            r = refs.get(f.name)
            lang = (r["lang"] if r else folder[:2]).split("+")[0]
            text = r["transcript"] if r and f.name not in UNSCORED else ""
            rows.append((f, lang, text))
    if rows:
        sets["mixed60"] = [rows[i % len(rows)] for i in range(60)]
    return sets


def score(items: list[tuple[Path, str, str]], hyps: list[str]) -> tuple[float, float]:
    """(WER over space-delimited languages, CER over zh/ja/ko), scored files only."""
    w_ref, w_hyp, c_ref, c_hyp = [], [], [], []
    for (_, lang, ref), hyp in zip(items, hyps, strict=True):
        if not ref:
            continue
        if lang in CJK:
            c_ref.append(basic(ref).replace(" ", ""))
            c_hyp.append(basic(hyp).replace(" ", ""))
        elif lang == "en":
            w_ref.append(normalize(_plain(ref)))
            w_hyp.append(normalize(_plain(hyp)))
        else:
            w_ref.append(basic(ref))
            w_hyp.append(basic(hyp))
    return (
        jiwer.wer(w_ref, w_hyp) if w_ref else float("nan"),
        jiwer.cer(c_ref, c_hyp) if c_ref else float("nan"),
    )


def vidpipe_cli(
    paths: list[Path], threads: int, model: str, formats: str, extra: tuple[str, ...] = ()
) -> tuple[float, list]:
    """Run ``vidpipe transcribe PATHS... -f FORMATS [EXTRA...]`` as a process; (wall s,
    transcripts)."""
    from vidpipe.types import Transcript

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "vidpipe", "transcribe", *map(str, paths), "-o", out]
        cmd += ["-f", formats, "-m", model, "--threads", str(threads), "-q", *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        wall = time.perf_counter() - t0
        if "json" not in formats:
            return wall, []
        stems: dict[str, int] = {}
        got = []
        for p in paths:
            n = stems.get(p.stem, 0) + 1
            stems[p.stem] = n
            stem = p.stem if n == 1 else f"{p.stem}-{n}"
            got.append(Transcript.model_validate_json((Path(out) / f"{stem}.json").read_text()))
        return wall, got


def distinct_items(items: list[tuple[Path, str, str]], folder: Path) -> list[tuple[Path, str, str]]:
    """``items`` with every file distinct: a path's first use as it is, each later use
    written into ``folder`` as a 16 kHz mono WAV of its audio padded with 1, 2...
    samples of silence (same speech, another content hash)."""
    import numpy as np

    seen: dict[Path, int] = {}
    out = []
    for path, lang, ref in items:
        n = seen.get(path, 0)
        seen[path] = n + 1
        if n == 0:
            out.append((path, lang, ref))
            continue
        audio = np.concatenate([decode_audio(path), np.zeros(n, np.float32)])
        dst = folder / f"{path.stem}_{path.suffix.lstrip('.')}-copy{n}.wav"
        with wave.open(str(dst), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())
        out.append((dst, lang, ref))
    return out


def bare_file_by_file(
    paths: list[Path], bare_model, bare_pipeline, batch_size: int
) -> dict[str, tuple[float, list[str], list[str]]]:
    """Bare faster-whisper on ``paths`` one file after another, model loaded:
    ``{"bare-sequential" | "bare-batched": (wall s, texts, languages)}``."""
    rows: dict[str, tuple[float, list[str], list[str]]] = {}
    for sys_name, pipe_kwargs in (
        ("bare-sequential", None),
        ("bare-batched", {"batch_size": batch_size}),
    ):
        hyps, langs = [], []
        t0 = time.perf_counter()
        for p in paths:
            if pipe_kwargs is None:
                segs, info = bare_model.transcribe(str(p), beam_size=5, vad_filter=True)
            else:
                segs, info = bare_pipeline.transcribe(str(p), beam_size=5, **pipe_kwargs)
            hyps.append(" ".join(x.text.strip() for x in segs))
            langs.append(info.language)
        rows[sys_name] = (time.perf_counter() - t0, hyps, langs)
    return rows


def submit_worker(
    paths: list[Path], threads: int, model: str
) -> tuple[float, list[str], list[str], str]:
    """``vidpipe submit --steps transcribe PATHS...`` + one ``vidpipe worker`` on a SQLite
    queue and catalog in a temporary ``VIDPIPE_HOME``. The worker is started (idle, no
    model loaded) before the clock starts; timed from the submit process's start to the
    last job's ``finished_at``.

    Returns:
        ``(wall s, texts, languages, detail line)``, texts in ``paths`` order (from the
        catalog's transcripts).
    """
    from datetime import UTC, datetime

    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import JOB_FINAL
    from vidpipe.pipeline.jobs import JobStore

    with tempfile.TemporaryDirectory(prefix="vidpipe-asr-submit-") as tmp:
        home = Path(tmp)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("VIDPIPE_DATABASE_URL", "VIDPIPE_QUEUE_URL", "VIDPIPE_STORAGE")
        }
        env.update(VIDPIPE_HOME=str(home), PYTHONUNBUFFERED="1", COLUMNS="250")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
        log = home / "worker.log"
        with open(log, "w", encoding="utf-8") as fh:
            worker = subprocess.Popen(
                [sys.executable, "-m", "vidpipe", "worker", "-c", "1", "--threads", str(threads)],
                env=env,
                cwd=home,
                stdout=subprocess.DEVNULL,
                stderr=fh,
            )
        store = None
        try:
            deadline = time.monotonic() + 120
            while " threads on " not in log.read_text(encoding="utf-8"):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log.read_text()[-500:]}")
                time.sleep(0.05)
            t0 = datetime.now(UTC)
            p0 = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "vidpipe",
                    "submit",
                    "--steps",
                    "transcribe",
                    "-m",
                    model,
                    "--json",
                    "-q",
                    *map(str, paths),
                ],
                env=env,
                cwd=home,
                capture_output=True,
                text=True,
            )
            submit_s = time.perf_counter() - p0
            if done.returncode != 0:
                raise RuntimeError(f"vidpipe submit exited {done.returncode}: {done.stderr}")
            chains = json.loads(done.stdout)
            ids = [j["id"] for c in chains for j in c["jobs"]]
            if len(ids) != len(paths):
                raise RuntimeError(f"{len(ids)} jobs for {len(paths)} files: {done.stderr}")
            store = JobStore(Catalog(f"sqlite:///{home / 'catalog.db'}"), root=home)
            deadline = time.monotonic() + 60 + 30 * len(paths)
            while True:
                jobs = store.get_many(ids)
                if all(j.status in JOB_FINAL for j in jobs):
                    break
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jobs not final: {log.read_text()[-500:]}")
                time.sleep(0.2)
            end = max(j.finished_at for j in jobs)
            end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
            wall = (end - t0).total_seconds()
            first = min(j.started_at for j in jobs)
            first = first.replace(tzinfo=UTC) if first.tzinfo is None else first
            bad = [j for j in jobs if j.status != "succeeded"]
            hyps, langs = [], []
            for c in chains:
                tr = store.catalog.get_transcript(c["media_id"])
                hyps.append(tr.text if tr is not None else "")
                langs.append(tr.language if tr is not None else "")
            detail = (
                f"submit process {submit_s:.2f} s, first claim at "
                f"{(first - t0).total_seconds():.2f} s, {len(jobs) - len(bad)}/{len(jobs)} "
                "jobs succeeded"
            )
        finally:
            if store is not None:
                store.catalog.close()
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return wall, hyps, langs, detail


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


ZH_LONG = [
    "aishell_BAC009S0724W0121.wav",
    "funasr_sample.wav",
    "paddlespeech_zh.wav",
    "cosyvoice_zero_shot_prompt.wav",
]
ZH_FIVE = [*ZH_LONG[:2], "funasr_asr_example.wav", *ZH_LONG[2:]]


def cjk_long_sets(data: Path, out: Path) -> dict[str, tuple[Path, str, str]]:
    """``{name: (mp3 path, language, reference or "")}``: clips joined 5 times, 0.8 s apart."""
    import numpy as np

    from vidpipe.media.audio_writer import AudioWriter

    refs: dict[str, str] = {}
    for folder in ("zh", "other_lang"):
        with open(data / folder / "transcripts.tsv", encoding="utf-8") as fh:
            refs.update({r["file"]: r["transcript"] for r in csv.DictReader(fh, delimiter="\t")})
    wanted = {
        "zh4x5": ("zh", [data / "zh" / f for f in ZH_LONG]),
        "zh5x5": ("zh", [data / "zh" / f for f in ZH_FIVE]),
        "ja1x5": ("ja", [data / "other_lang" / "leopard_test_ja.wav"]),
        "ko1x5": ("ko", [data / "other_lang" / "leopard_test_ko.wav"]),
    }
    pause = np.zeros(int(0.8 * 16000), np.float32)
    sets = {}
    for name, (lang, files) in wanted.items():
        if not all(f.is_file() for f in files):
            continue
        parts, ref = [], []
        for _ in range(5):
            for f in files:
                parts += [decode_audio(f), pause]
                ref.append(refs.get(f.name, ""))
        path = out / f"{name}.mp3"
        with AudioWriter(path, sample_rate=16000) as w:
            w.write(np.concatenate(parts[:-1]))
        sets[name] = (path, lang, "" if not all(ref) else " ".join(ref))
    return sets


def cjk_chars(text: str) -> str:
    """Han, Kana and Hangul of ``text`` in Simplified script (no marks, no spaces)."""
    import re

    from vidpipe.text.script import to_script

    return to_script(
        "".join(re.findall(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text)), "simplified"
    )


def cjk_part(args, engine, bare_model, bare_pipeline) -> None:
    """Long-form zh/ja/ko: characters kept, CER, RTF, ASCII commas (see the module doc)."""
    import re

    ascii_comma = re.compile(r"[\u3040-\u30ff\u3400-\u9fff],|,[\u3040-\u30ff\u3400-\u9fff]")
    runs = {
        "vidpipe": lambda p: vidpipe.transcribe(p, engine=engine).text,
        "vidpipe --batch-size 1": lambda p: vidpipe.transcribe(p, engine=engine, batch_size=1).text,
        "bare-batched": lambda p: " ".join(
            s.text for s in bare_pipeline.transcribe(str(p), batch_size=8, beam_size=5)[0]
        ),
        "bare-sequential": lambda p: " ".join(
            s.text for s in bare_model.transcribe(str(p), beam_size=5, vad_filter=True)[0]
        ),
    }
    print("\nlong-form Chinese, Japanese, Korean (clips joined 5 times, 0.8 s pauses, mp3):")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (path, _lang, ref) in cjk_long_sets(args.data, Path(tmp)).items():
            seconds = decode_audio(path).shape[0] / 16000
            kept: dict[str, int] = {}
            for sys_name, fn in runs.items():
                t0 = time.perf_counter()
                text = fn(path)
                wall = time.perf_counter() - t0
                got = cjk_chars(text)
                kept[sys_name] = len(got)
                c = jiwer.cer(cjk_chars(ref), got) if ref else float("nan")
                print(
                    f"  {name:6s} {seconds:5.1f} s {sys_name:22s} chars {len(got):4d}"
                    f"{f' / {len(cjk_chars(ref))}' if ref else ''}  CER {c * 100:6.2f} %  "
                    f"RTF {wall / seconds:.4f}  ASCII commas in CJK: "
                    f"{len(ascii_comma.findall(text))}",
                    flush=True,
                )
                if args.verbose:
                    print(f"      {text}")


def short_collections(args, sets) -> dict[str, list[tuple[Path, str, str]]]:
    """The collections of short files named by ``--sets``: ``{name: [(path, language,
    reference or "")]}``."""
    short = {"en_dev": [(p, "en", r) for p, r in sets["en_dev"]]}
    short.update(short_sets(args.data))
    wanted = [x.strip() for x in args.sets.split(",") if x.strip()]
    return {name: short[name] for name in wanted if name in short}


def print_rows(
    name: str,
    items: list[tuple[Path, str, str]],
    rows: dict[str, tuple[float, list[str], list[str]]],
    audio_seconds: float,
) -> None:
    """One line per system: wall, files/min, RTF, WER, CER, languages right."""
    want = [lang for _, lang, _ in items]
    for sys_name, (wall, hyps, langs) in rows.items():
        w, c = score(items, hyps)
        right = sum(a == b for a, b in zip(langs, want, strict=True))
        print(
            f"  {name:8s} {sys_name:16s} {len(items)} files, {audio_seconds:6.1f} s audio: "
            f"wall {wall:6.2f} s, {60 * len(items) / wall:6.1f} files/min, RTF "
            f"{wall / audio_seconds:.4f}, WER {w * 100:5.2f} %, CER {c * 100:5.2f} %, "
            f"language {right}/{len(items)}",
            flush=True,
        )


def submit_part(args, sets, threads, bare_model, bare_pipeline, options) -> list[str]:
    """The collections of short files through ``vidpipe submit`` + one worker, against
    ``vidpipe transcribe FILE...`` and bare file by file in the same run (module doc);
    returns the target lines."""
    targets: list[str] = []
    short = short_collections(args, sets)
    print(
        "\nqueue workers: vidpipe submit --steps transcribe + 1 worker (SQLite, concurrency 1, "
        f"{threads} threads), every file distinct:"
    )
    with tempfile.TemporaryDirectory(prefix="vidpipe-asr-distinct-") as tmp:
        for name, items in short.items():
            items = distinct_items(items, Path(tmp))
            paths = [p for p, _, _ in items]
            copies = sum(1 for p in paths if p.parent == Path(tmp))
            audio_seconds = sum(decode_audio(p).shape[0] / 16000 for p in paths)
            rows: dict[str, tuple[float, list[str], list[str]]] = {}
            wall, hyps, langs, detail = submit_worker(paths, threads, args.model)
            rows["submit + worker"] = (wall, hyps, langs)
            # a transcribe job keeps word times (the catalog's): the same options here
            wall, trs = vidpipe_cli(paths, threads, args.model, "txt,json", ("--word-timestamps",))
            rows["vidpipe FILE..."] = (wall, [t.text for t in trs], [t.language for t in trs])
            rows.update(bare_file_by_file(paths, bare_model, bare_pipeline, options.batch_size))
            print(
                f"  {name}: {copies} repeated files written as padded WAV copies; submit: {detail}"
            )
            print_rows(name, items, rows, audio_seconds)
            ours = rows["submit + worker"][0]
            cli = rows["vidpipe FILE..."][0]
            best_name = min(("bare-sequential", "bare-batched"), key=lambda k: rows[k][0])
            best = rows[best_name][0]
            print(
                f"  {name:8s} submit + worker / vidpipe FILE...: {ours / cli:.3f} (time); "
                f"{rows['bare-sequential'][0] / ours:.2f}x bare-sequential, "
                f"{rows['bare-batched'][0] / ours:.2f}x bare-batched (speed)",
                flush=True,
            )
            targets.append(
                f"{name} submit + worker: {ours:.2f} s vs vidpipe FILE... {cli:.2f} s = "
                f"{ours / cli:.3f} (target <= 1.10: {'met' if ours <= 1.10 * cli else 'NOT met'}); "
                f"{best / ours:.2f}x {best_name} (bare's best; target >= 2x: "
                f"{'met' if best >= 2 * ours else 'NOT met'})"
            )
    return targets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--repeat", type=int, default=3, help="runs per long-form file (median)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--parts",
        default="long,short,cjk",
        help="long (per file, as before), short (collections), cjk (long zh/ja/ko), "
        "submit (the collections through vidpipe submit + one worker)",
    )
    ap.add_argument(
        "--sets",
        default="en_dev,mixed60",
        help="collections of short files for the short and submit parts (en_dev, mixed60)",
    )
    ap.add_argument("--verbose", action="store_true", help="print the cjk transcripts")
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
    parts = set(args.parts.split(","))
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for set_name, items in sets.items() if "long" in parts else ():
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

    if "long" in parts:
        print("\nratios (vidpipe / baseline, same run):")
    for set_name in sets if "long" in parts else ():
        for ours in ("vidpipe", "vidpipe+sentences"):
            w_v, r_v = results[(set_name, ours)]
            for base in ("bare-batched", "bare-sequential"):
                w_b, r_b = results[(set_name, base)]
                print(
                    f"  {set_name:8s} {ours:17s} / {base:16s} RTF ratio {r_v / r_b:.3f}   "
                    f"WER difference {(w_v - w_b) * 100:+.2f} points"
                )
    targets: list[str] = []
    if "long" in parts and "en_long" in sets:
        _, r_long = results[("en_long", "vidpipe")]
        _, r_bare = results[("en_long", "bare-batched")]
        targets.append(
            f"long-form RTF {r_long:.4f} (target <= 0.06: "
            f"{'met' if r_long <= 0.06 else 'NOT met'}); vidpipe/bare {r_long / r_bare:.3f} "
            f"(target <= 1.05: {'met' if r_long / r_bare <= 1.05 else 'NOT met'})"
        )
        wav = sets["en_long"][0][0]
        ours_w, bare_w = [], []
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "bare.py"
            script.write_text(BARE_SCRIPT, encoding="utf-8")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                bare_cmd = [sys.executable, str(script), model_dir, str(wav), f"{tmp}/o.tsv"]
                subprocess.run([*bare_cmd, str(threads)], check=True)
                bare_w.append(time.perf_counter() - t0)
                ours_w.append(vidpipe_cli([wav], threads, args.model, "txt,srt,vtt,json")[0])
        o, b = statistics.median(ours_w), statistics.median(bare_w)
        print(
            f"\nwhole process, en_long: vidpipe transcribe {o:.2f} s (runs "
            f"{', '.join(f'{x:.2f}' for x in ours_w)}), bare batched script {b:.2f} s (runs "
            f"{', '.join(f'{x:.2f}' for x in bare_w)}): ratio {o / b:.3f}"
        )
        targets.append(
            f"whole-process long form {o:.2f} s vs bare {b:.2f} s (target below: "
            f"{'met' if o < b else 'NOT met'})"
        )

    # ---- collections of short files (issue 14)
    short = short_collections(args, sets)
    if "short" not in parts:
        short = {}
    if short:
        print("\ncollections of short files (vidpipe: one process for the whole set):")
    for name, items in short.items():
        paths = [p for p, _, _ in items]
        audio_seconds = sum(decode_audio(p).shape[0] / 16000 for p in paths)
        rows: dict[str, tuple[float, list[str], list[str]]] = {}
        wall, trs = vidpipe_cli(paths, threads, args.model, "txt,json")
        rows["vidpipe FILE..."] = (wall, [t.text for t in trs], [t.language for t in trs])
        rows.update(bare_file_by_file(paths, bare_model, bare_pipeline, options.batch_size))
        print_rows(name, items, rows, audio_seconds)
        ours = rows["vidpipe FILE..."]
        best_name = min(("bare-sequential", "bare-batched"), key=lambda k: rows[k][0])
        best = rows[best_name]
        speed = best[0] / ours[0]
        w_ours, w_best = score(items, ours[1])[0], score(items, best[1])[0]
        print(
            f"  {name:8s} vidpipe / {best_name} (bare's best): {speed:.2f}x files/min, "
            f"WER difference {(w_ours - w_best) * 100:+.2f} points"
        )
        targets.append(
            f"{name}: {speed:.2f}x bare's best (target >= 2.5x at <= +0.5 WER points: "
            f"{'met' if speed >= 2.5 and w_ours - w_best <= 0.005 else 'NOT met'})"
        )
    if "submit" in parts:
        targets += submit_part(args, sets, threads, bare_model, bare_pipeline, options)
    if "cjk" in parts:
        cjk_part(args, engine, bare_model, bare_pipeline)
    print("\ntargets:")
    for t in targets:
        print(f"  {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
