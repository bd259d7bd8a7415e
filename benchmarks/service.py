"""Service benchmark: OpenAI-compatible transcription through ``vidpipe serve`` against
faster-whisper-server, and vidpipe's HTTP overhead over an in-process call. One run.

Systems (same bundled model files, int8, the same CPU threads, the same decoding
options: beam 5, Silero VAD, batched pipeline with batch 8, temperature fallback
0..1, ``condition_on_previous_text`` off):

* ``vidpipe``: ``vidpipe serve --no-worker`` (a subprocess), ``POST
  /v1/audio/transcriptions`` with ``response_format=json``;
* ``fws``: faster-whisper-server 0.0.3 (a subprocess, multi-model config with the same
  model folder and ``transcribe_options`` = vidpipe's
  :func:`~vidpipe.speech.whisper.whisper_kwargs`), the same request (plus its
  ``model_name`` field);
* ``in-process``: ``vidpipe.transcribe(path, engine=..., sentence_segments=False)``
  in this process, sequential: the floor for the HTTP overhead.

Servers run one at a time (never together) and are warmed up with one request.
Sets: ``en_dev`` (32 LJSpeech sentences, exact text) and ``en_long`` (the Bush radio
address, 2:07) from ``../shared/data`` (or ``--data``; en_dev falls back to
tests/data). Each set is sent sequentially and by 4 concurrent clients (the long file
4 times at once). Reported: wall time, requests per minute, p50/p95 latency, WER
(whisper_normalizer English + jiwer), and the ratios vidpipe / fws (throughput) and
vidpipe-sequential / in-process (overhead).

Targets: vidpipe's throughput >= faster-whisper-server's at equal or better WER; HTTP
overhead over in-process <= 5 %.

``--parts realtime`` (issue 21): realtime transcription sessions
(``GET /v1/realtime?intent=transcription``) on ``vidpipe serve --no-worker``: 1, 2 and 4
sessions at once (``--sessions``), each the official ``openai`` client streaming the
radio address (``--realtime-seconds`` of it, default all 2:07) in 100 ms pieces at real
time, server VAD. Reported per run: first-partial latency per turn (first delta of a
turn minus the moment its speech onset, ``audio_start_ms`` + the 300 ms prefix
padding, was sent; p50/p95), final latency per turn (its ``completed`` minus the moment
its end, ``audio_end_ms``, was sent), the real-time factor (last ``completed`` of a
session minus its start, over the audio's length: 1.0 + the final lag when decoding
keeps up) and the WER of the completed turns (whole recording only). Targets: first
partial <= 2 s after speech starts; 4 sessions keep up with real time with ``base``.


Collections of short files with concurrent clients (issue 21, ``--parts short``): the
short-file collections of ``benchmarks/asr.py`` (``en_dev``, 32 files, and ``mixed60``,
60 clips in 9 languages, language detected) sent sequentially and by ``--short-clients``
(8) concurrent clients to three servers in turn: ``vidpipe`` (concurrent short requests
packed into shared Whisper windows, :mod:`vidpipe.service.batching`), ``unpacked``
(``vidpipe serve`` with ``VIDPIPE_SERVICE_BATCH_MAX=1``: each request alone, the
service before packing) and ``fws``. Reported per set: files/min, p50/p95 latency, WER
(CER for zh/ja/ko, :func:`asr.score`), the throughput ratio vidpipe / fws with 8
clients (target >= 2.5x at equal or better WER) and the single-request latency of
vidpipe against the unpacked service (sequential p50; target within 10 %).
``--parts interleaved`` measures the throughput target on a busy machine: packed
vidpipe and fws both up, the 8 clients' en_dev run sent to one then the other for
``--rounds`` rounds (both see the same load), the median of the per-round ratios.

Usage: ``python benchmarks/service.py [--model base] [--clients 4] [--short-clients 8]
[--parts service,short,interleaved,realtime] [--rounds 3] [--short-sets en_dev,mixed60]
[--short-systems vidpipe,unpacked,fws] [--sessions 1,2,4]
[--data ../shared/data]``. Prints; asserts nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py (named by issue 10) would shadow the standard library's ``queue``
# (imported by more_itertools, concurrent.futures...): take this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vidpipe
from asr import load_sets, score, short_sets, wer
from vidpipe.config import default_threads
from vidpipe.speech.engine import TranscribeOptions
from vidpipe.speech.models import resolve_model
from vidpipe.speech.whisper import FasterWhisperEngine, whisper_kwargs

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def start_vidpipe(model: str, home: Path, packed: bool = True) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_MODEL=model)
    # a loaded machine must not turn the unpacked server's queue into 504s: the
    # benchmark measures throughput, not the service's own time limit
    env.setdefault("VIDPIPE_SERVICE_REQUEST_TIMEOUT", "3600")
    if not packed:
        env["VIDPIPE_SERVICE_BATCH_MAX"] = "1"
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "vidpipe", "serve", "--no-worker", "--port", str(port),
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_up(url, proc)
    return proc, url


def start_fws(model: str, threads: int, batch: int, home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    kwargs = whisper_kwargs(TranscribeOptions(batch_size=batch, sentence_segments=False))
    kwargs.pop("condition_on_previous_text")  # the batched pipeline does not take it
    for key in ("task", "language", "initial_prompt"):  # set per request by the server
        kwargs.pop(key)
    config = {
        "batch_size": batch,
        "models": [
            {
                "name": "whisper-1",
                "path": str(resolve_model(model)),
                "model_options": {"device": "cpu", "compute_type": "int8", "cpu_threads": threads},
                "transcribe_options": kwargs,
            }
        ],
    }
    cfg = home / "fws.yaml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "faster_whisper_server", "--config", str(cfg),
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_up(url, proc)
    return proc, url


def post(url: str, path: Path) -> tuple[str, float]:
    """One transcription request; ``(text, seconds)``."""
    t0 = time.perf_counter()
    with path.open("rb") as fh:
        r = httpx.post(
            url + "/v1/audio/transcriptions",
            files={"file": (path.name, fh, "audio/wav")},
            data={"model": "whisper-1", "model_name": "whisper-1", "response_format": "json"},
            timeout=600,
        )
    r.raise_for_status()
    return r.json()["text"], time.perf_counter() - t0


def run_set(url: str, items: list[tuple[Path, str]], clients: int) -> dict:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda it: post(url, it[0]), items))
    wall = time.perf_counter() - t0
    lat = sorted(s for _, s in results)
    return {
        "wall": wall,
        "rpm": 60.0 * len(items) / wall,
        "p50": statistics.median(lat),
        "p95": lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))],
        "wer": wer([r for _, r in items], [t for t, _ in results]),
        "n": len(items),
    }


def workloads(sets: dict, clients: int) -> list[tuple[str, list, int]]:
    out = []
    for name, items in sets.items():
        out.append((f"{name} seq", items, 1))
        many = items if len(items) >= clients else items * clients
        out.append((f"{name} x{clients}", many, clients))
    return out


def bench_server(label: str, start, sets: dict, clients: int) -> dict:
    proc, url = start()
    try:
        post(url, next(iter(sets.values()))[0][0])  # warm-up: model load
        out = {}
        for w, items, n in workloads(sets, clients):
            out[w] = r = run_set(url, items, n)
            print(f"  {label:<8} {w:<14} wall {r['wall']:7.2f} s, WER {r['wer']:.3f}", flush=True)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_short(url: str, items: list[tuple[Path, str, str]], clients: int) -> dict:
    """A short-file collection through ``clients`` concurrent clients: timings and scores."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda it: post(url, it[0]), items))
    wall = time.perf_counter() - t0
    lat = sorted(s for _, s in results)
    w, c = score(items, [t for t, _ in results])
    return {
        "wall": wall,
        "fpm": 60.0 * len(items) / wall,
        "p50": statistics.median(lat),
        "p95": lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))],
        "wer": w,
        "cer": c,
    }


def _group_metrics(url: str) -> str:
    """vidpipe's packing figures from ``/metrics`` (empty for other servers)."""
    import re

    try:
        body = httpx.get(url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return ""

    def value(name: str) -> float | None:
        m = re.search(rf"^{name} (\S+)$", body, re.M)
        return float(m.group(1)) if m else None

    n = value("vidpipe_transcription_group_size_count")
    if not n:
        return ""
    size = value("vidpipe_transcription_group_size_sum") / n
    gathered = value("vidpipe_transcription_gather_seconds_sum") / n
    waits = value("vidpipe_transcription_wait_seconds_count") or 1.0
    wait = value("vidpipe_transcription_wait_seconds_sum") / waits
    return (f"{int(n)} groups (all workloads), mean size {size:.2f}, mean extra gathering "
            f"{gathered:.3f} s a group, mean wait {wait:.2f} s a request")  # fmt: skip


def bench_short(label: str, start, sets: dict, clients: int) -> dict:
    """Each short collection sequentially then by ``clients`` clients, on one server."""
    proc, url = start()
    try:
        post(url, next(iter(sets.values()))[0][0])  # warm-up: model load
        out = {}
        for name, items in sets.items():
            for n in (1, clients):
                out[(name, n)] = r = run_short(url, items, n)
                print(f"  {label:<8} {name:<8} x{n:<2} wall {r['wall']:7.2f} s, "
                      f"{r['fpm']:6.1f} files/min, p50 {r['p50']:5.2f} s, WER "
                      f"{100 * r['wer']:5.2f} %, CER {100 * r['cer']:5.2f} %",
                      flush=True)  # fmt: skip
        groups = _group_metrics(url)
        if groups:
            print(f"  {label:<8} packed groups: {groups}", flush=True)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def interleaved_part(args, threads: int, data_sets: dict, home: Path) -> None:
    """Issue 21's target measured fairly on a busy machine: packed vidpipe and
    faster-whisper-server both running, ``--short-clients`` clients on en_dev sent to
    one, then the other, ``--rounds`` times, so both see the same load; per round the
    throughput ratio, then the median ratio."""
    items = [(p, "en", r) for p, r in data_sets["en_dev"]]
    n = args.short_clients
    servers = {
        "vidpipe": lambda: start_vidpipe(args.model, home / "interleaved"),
        "fws": lambda: start_fws(args.model, threads, args.batch_size, home),
    }
    running: dict[str, tuple] = {}
    try:
        for name, start in servers.items():
            running[name] = start()
            post(running[name][1], items[0][0])  # warm-up: model load
        print(f"\nen_dev ({len(items)} files), {n} clients, vidpipe and fws in turn, "
              f"{args.rounds} rounds")  # fmt: skip
        ratios, results = [], {k: [] for k in servers}
        for rnd in range(1, args.rounds + 1):
            got = {}
            for name in servers:
                load = os.getloadavg()[0]
                got[name] = r = run_short(running[name][1], items, n)
                results[name].append(r)
                print(f"  round {rnd} {name:<8} {r['fpm']:6.1f} files/min, p50 {r['p50']:5.2f} s, "
                      f"WER {100 * r['wer']:5.2f} %  (load {load:.1f})", flush=True)  # fmt: skip
            ratios.append(got["vidpipe"]["fpm"] / got["fws"]["fpm"])
            print(f"  round {rnd}: vidpipe/fws = {ratios[-1]:.2f}", flush=True)
        groups = _group_metrics(running["vidpipe"][1])
        if groups:
            print(f"  vidpipe packed groups: {groups}")
        wer_v = statistics.mean(r["wer"] for r in results["vidpipe"])
        wer_f = statistics.mean(r["wer"] for r in results["fws"])
        print(f"en_dev x{n}: throughput vidpipe/fws median {statistics.median(ratios):.2f} "
              f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 2.50), "
              f"WER {100 * (wer_v - wer_f):+.2f} points (target <= 0)")  # fmt: skip
    finally:
        for proc, _ in running.values():
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def short_part(args, threads: int, data_sets: dict, home: Path) -> None:
    """Issue 21: the short collections with ``--short-clients`` concurrent clients."""
    sets = {"en_dev": [(p, "en", r) for p, r in data_sets["en_dev"]]}
    sets.update(short_sets(args.data))
    wanted = {x.strip() for x in args.short_sets.split(",") if x.strip()}
    sets = {k: v for k, v in sets.items() if k in wanted}
    n = args.short_clients
    print(f"\nshort collections, sequential and {n} concurrent clients: "
          f"{', '.join(f'{k} ({len(v)})' for k, v in sets.items())}")  # fmt: skip
    systems = {x.strip() for x in args.short_systems.split(",") if x.strip()}
    results = {}
    if "vidpipe" in systems:
        results["vidpipe"] = bench_short(
            "vidpipe", lambda: start_vidpipe(args.model, home / "packed"), sets, n
        )
    if "unpacked" in systems:
        results["unpacked"] = bench_short(
            "unpacked",
            lambda: start_vidpipe(args.model, home / "unpacked", packed=False),
            sets,
            n,
        )
    if "fws" in systems:
        try:
            results["fws"] = bench_short(
                "fws", lambda: start_fws(args.model, threads, args.batch_size, home), sets, n
            )
        except Exception as exc:  # faster-whisper-server not installed or not starting
            print(f"  fws: not run ({type(exc).__name__}: {exc})")
    head = (
        f"{'set':<8} {'clients':>7} {'system':<9} {'wall s':>8} {'files/min':>9} "
        f"{'p50 s':>7} {'p95 s':>7} {'WER %':>6} {'CER %':>6}"
    )
    print(head)
    print("-" * len(head))
    for name in sets:
        for c in (1, n):
            for system, res in results.items():
                r = res[(name, c)]
                print(f"{name:<8} {c:>7} {system:<9} {r['wall']:8.2f} {r['fpm']:9.1f} "
                      f"{r['p50']:7.2f} {r['p95']:7.2f} {100 * r['wer']:6.2f} "
                      f"{100 * r['cer']:6.2f}")  # fmt: skip
    print()
    if "vidpipe" not in results:
        return
    for name in sets:
        ours = results["vidpipe"][(name, n)]
        if "fws" in results:
            fws = results["fws"][(name, n)]
            speed = ours["fpm"] / fws["fpm"]
            dw = 100 * (ours["wer"] - fws["wer"])
            dc = 100 * (ours["cer"] - fws["cer"])
            print(f"{name:<8} x{n}: throughput vidpipe/fws = {speed:.2f} (target >= 2.50), "
                  f"WER {dw:+.2f} points, CER {dc:+.2f} points (target <= 0)")  # fmt: skip
        if "unpacked" not in results:
            continue
        plain = results["unpacked"][(name, n)]
        print(f"{name:<8} x{n}: throughput vidpipe/unpacked = {ours['fpm'] / plain['fpm']:.2f}, "
              f"WER {100 * (ours['wer'] - plain['wer']):+.2f} points")  # fmt: skip
        one, alone = results["vidpipe"][(name, 1)], results["unpacked"][(name, 1)]
        print(f"{name:<8} sequential: latency p50 vidpipe/unpacked = "
              f"{one['p50'] / alone['p50']:.3f}, wall {one['wall'] / alone['wall']:.3f} "
              "(target <= 1.10)")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--short-clients", type=int, default=8)
    ap.add_argument(
        "--short-systems",
        default="vidpipe,unpacked,fws",
        help="servers run in the short part (vidpipe = packed, unpacked, fws)",
    )
    ap.add_argument("--short-sets", default="en_dev,mixed60", help="short collections to send")
    ap.add_argument(
        "--parts",
        default="service,short",
        help="service (the sets above with --clients, as before), short, interleaved "
        "(packed vidpipe and fws in turn, --rounds), realtime (issue 21)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the interleaved part")
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("VIDPIPE_SHARED_DATA") or ROOT.parent / "shared" / "data"),
    )
    ap.add_argument("--sessions", default="1,2,4", help="realtime sessions at once per run")
    ap.add_argument("--realtime-seconds", type=float, default=0.0, help="0: the whole file")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}

    sets = load_sets(args.data)
    if "realtime" in parts:
        bench_realtime(args, sets)
    if "interleaved" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
            interleaved_part(args, default_threads(), sets, Path(tmp))
    if not parts & {"service", "short"}:
        return 0
    threads = default_threads()
    print(f"model {args.model}, {threads} threads, batch {args.batch_size}, "
          f"sets: {', '.join(f'{k} ({len(v)})' for k, v in sets.items())}")  # fmt: skip
    if "service" not in parts:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
            short_part(args, threads, sets, Path(tmp))
        return 0

    engine = FasterWhisperEngine(args.model, threads=threads)
    vidpipe.transcribe(sets["en_dev"][0][0], engine=engine, sentence_segments=False)  # warm
    inproc = {}
    for name, items in sets.items():
        t0 = time.perf_counter()
        texts = [
            vidpipe.transcribe(
                p, engine=engine, batch_size=args.batch_size, sentence_segments=False
            ).text
            for p, _ in items
        ]
        wall = time.perf_counter() - t0
        inproc[name] = {"wall": wall, "wer": wer([r for _, r in items], texts)}
        print(f"  in-process {name:<8} wall {wall:7.2f} s", flush=True)
    del engine

    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        home = Path(tmp)
        results = {
            "vidpipe": bench_server(
                "vidpipe", lambda: start_vidpipe(args.model, home / "vidpipe"), sets, args.clients
            ),
            "fws": bench_server(
                "fws",
                lambda: start_fws(args.model, threads, args.batch_size, home),
                sets,
                args.clients,
            ),
        }

    head = (
        f"{'workload':<14} {'system':<8} {'wall s':>8} {'req/min':>8} {'p50 s':>7} "
        f"{'p95 s':>7} {'WER':>6}"
    )
    print(head)
    print("-" * len(head))
    for w, _, _ in workloads(sets, args.clients):
        for system in ("vidpipe", "fws"):
            r = results[system][w]
            print(f"{w:<14} {system:<8} {r['wall']:8.2f} {r['rpm']:8.1f} {r['p50']:7.2f} "
                  f"{r['p95']:7.2f} {r['wer']:6.3f}")  # fmt: skip
        ratio = results["vidpipe"][w]["rpm"] / results["fws"][w]["rpm"]
        print(f"{w:<14} {'ratio':<8} throughput vidpipe/fws = {ratio:.2f} (target >= 1.00)")
    print()
    for name, r in inproc.items():
        served = results["vidpipe"][f"{name} seq"]
        overhead = served["wall"] / r["wall"] - 1.0
        print(f"{name:<8} in-process {r['wall']:7.2f} s (WER {r['wer']:.3f}); served "
              f"sequentially {served['wall']:7.2f} s: HTTP overhead {100 * overhead:+.1f} % "
              "(target <= 5 %)")  # fmt: skip
    if "short" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
            short_part(args, threads, sets, Path(tmp))
    return 0


# --------------------------------------------------------------------------- realtime


async def _realtime_session(url: str, model: str, pcm: bytes, rate: int) -> dict:
    """One realtime session streaming ``pcm`` (24 kHz) at real time; its figures."""
    import asyncio
    import base64

    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused")
    step = rate // 10 * 2  # 100 ms
    first_delta: dict[str, float] = {}
    onset: dict[str, float] = {}
    end: dict[str, float] = {}
    done: dict[str, float] = {}
    texts: list[str] = []
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.recv()  # session.created
        transcription = {"model": model, "language": "en"}
        audio_input = {"transcription": transcription, "turn_detection": {"type": "server_vad"}}
        await conn.send(
            {"type": "session.update",
             "session": {"type": "transcription", "audio": {"input": audio_input}}}
        )  # fmt: skip
        await conn.recv()  # session.updated
        t0 = time.monotonic()

        async def sender() -> None:
            for k, i in enumerate(range(0, len(pcm), step)):
                await conn.input_audio_buffer.append(
                    audio=base64.b64encode(pcm[i : i + step]).decode()
                )
                await asyncio.sleep(max(0.0, t0 + (k + 1) * 0.1 - time.monotonic()))

        task = asyncio.create_task(sender())
        committed: set[str] = set()
        while True:
            try:
                ev = await asyncio.wait_for(conn.recv(), 1.0)
            except TimeoutError:
                if task.done() and committed and committed <= set(done) and len(onset) == len(end):
                    break
                continue
            now = time.monotonic() - t0
            kind = ev.type
            if kind == "input_audio_buffer.speech_started":
                onset[ev.item_id] = (ev.audio_start_ms + 300) / 1000
            elif kind == "input_audio_buffer.speech_stopped":
                end[ev.item_id] = ev.audio_end_ms / 1000
            elif kind == "input_audio_buffer.committed":
                committed.add(ev.item_id)
            elif kind == "conversation.item.input_audio_transcription.delta":
                first_delta.setdefault(ev.item_id, now)
            elif kind == "conversation.item.input_audio_transcription.completed":
                done[ev.item_id] = now
                texts.append(ev.transcript)
            elif kind == "error":
                raise RuntimeError(str(ev.error))
        await task
    return {
        "first": [first_delta[i] - onset[i] for i in first_delta if i in onset],
        "final": [done[i] - end[i] for i in done if i in end],
        "rtf": max(done.values()) / (len(pcm) / 2 / rate),
        "text": " ".join(t.strip() for t in texts),
        "turns": len(done),
    }


def bench_realtime(args, sets: dict) -> None:
    """First-partial and final latency, real-time factor and WER of 1, 2 and 4
    realtime sessions at once (see the module doc)."""
    import asyncio

    from vidpipe.media.audio import decode_audio

    if "en_long" not in sets:
        print("realtime: en_long not found (--data)")
        return
    path, reference = sets["en_long"][0]
    audio = decode_audio(path, sample_rate=24000)
    if args.realtime_seconds > 0:
        audio = audio[: int(args.realtime_seconds * 24000)]
    whole = args.realtime_seconds <= 0
    pcm = (audio.clip(-1, 1) * 32767).astype("<i2").tobytes() + bytes(48000)
    counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    print(f"realtime: model {args.model}, {len(audio) / 24000:.1f} s of en_long per session "
          f"at real time, server VAD, sessions {counts}", flush=True)  # fmt: skip

    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        values = sorted(values)
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]

    head = (f"{'sessions':>8} {'turns':>6} {'1st partial p50':>15} {'p95':>6} "
            f"{'final p50':>9} {'p95':>6} {'RTF max':>7} {'WER':>6}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        proc, url = start_vidpipe(args.model, Path(tmp))
        try:
            asyncio.run(_realtime_session(url, args.model, pcm[: 24000 * 2 * 3], 24000))  # warm
            for n in counts:

                async def run(n: int = n) -> list[dict]:
                    return await asyncio.gather(
                        *[_realtime_session(url, args.model, pcm, 24000) for _ in range(n)]
                    )

                res = asyncio.run(run())
                first = [x for r in res for x in r["first"]]
                final = [x for r in res for x in r["final"]]
                rtf = max(r["rtf"] for r in res)
                w = wer([reference] * n, [r["text"] for r in res]) if whole else float("nan")
                turns = sum(r["turns"] for r in res)
                rows.append(
                    f"{n:>8} {turns:>6} {pct(first, 0.5):>13.2f} s {pct(first, 0.95):>6.2f} "
                    f"{pct(final, 0.5):>7.2f} s {pct(final, 0.95):>6.2f} {rtf:>7.2f} {w:>6.3f}"
                )
                print(rows[-1], flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    print(head)
    print("-" * len(head))
    for row in rows:
        print(row)
    print("targets: first partial <= 2 s; RTF close to 1 (decoding keeps up) with 4 sessions")


if __name__ == "__main__":
    raise SystemExit(main())
