"""Download benchmark: vidpipe's sliding window vs fixed groups vs aria2c (prints, no asserts).

Serves FILES files of SIZE MB each (random bytes behind a valid mp4 ``ftyp`` box, so the
magic-byte check passes) from ``tests/servers/http_media.py`` on 127.0.0.1 with a
per-request latency drawn uniformly from 50-400 ms before each response starts
(deterministic per file by seed: every method sees the same latency for the same file;
each method gets a fresh server). Then downloads everything, same concurrency N, with:

a. vidpipe ``download_many`` (``concurrency=N, per_host=N``): a sliding window;
b. the naive script: ``asyncio.gather`` over consecutive groups of N with httpx;
c. ``aria2c -j N -x 1`` (Debian's aria2) when it is on PATH.

Every file's sha256 is verified for each method. Prints wall seconds, MB/s and ratios,
plus the latency-only lower bounds of a sliding window (sum of latencies / N) and of
fixed groups (sum over groups of the slowest latency).

Usage::

    python benchmarks/ingest.py [--files 200] [--size-mb 2] [-n 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers.http_media import MediaServer
from vidpipe.library.download import DownloadLimits, download_many

LATENCY = (0.050, 0.400)  # seconds, uniform, before each response starts

# A minimal ISO BMFF 'ftyp' box (24 bytes): brand isom, minor version 0x200, compat isom iso2.
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def make_files(root: Path, count: int, size: int, seed: int) -> dict[str, str]:
    """Write ``count`` files of ``size`` bytes; return name -> sha256."""
    rng = random.Random(seed)
    digests = {}
    for i in range(count):
        name = f"file{i:04d}.mp4"
        data = FTYP + rng.randbytes(size - len(FTYP))
        (root / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def verify(out: Path, digests: dict[str, str]) -> int:
    """Number of files in ``out`` whose sha256 matches (missing or wrong ones count 0)."""
    good = 0
    for name, digest in digests.items():
        path = out / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            good += 1
    return good


def run_vidpipe(server: MediaServer, names: list[str], out: Path, n: int) -> None:
    items = [(name, server.url(name), out / name) for name in names]
    results = download_many(items, DownloadLimits(concurrency=n, per_host=n))
    failed = [r for r in results if r.status != "done"]
    if failed:
        print(f"  vidpipe: {len(failed)} failed, e.g. {failed[0].reason}")


def run_fixed_groups(server: MediaServer, names: list[str], out: Path, n: int) -> None:
    """The naive script: gather N downloads, wait for all of them, then the next N."""

    async def fetch(client: httpx.AsyncClient, name: str) -> None:
        async with client.stream("GET", server.url(name)) as response:
            response.raise_for_status()
            with (out / name).open("wb") as fh:
                async for chunk in response.aiter_bytes():
                    fh.write(chunk)

    async def main() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for start in range(0, len(names), n):
                await asyncio.gather(*(fetch(client, name) for name in names[start : start + n]))

    asyncio.run(main())


def run_aria2c(server: MediaServer, names: list[str], out: Path, n: int) -> None:
    listing = out.parent / f"{out.name}-list.txt"
    listing.write_text(
        "".join(f"{server.url(name)}\n  out={name}\n" for name in names), encoding="utf-8"
    )
    cmd = [
        "aria2c", f"-j{n}", "-x1", "-i", str(listing), "-d", str(out),
        "--file-allocation=none", "--console-log-level=warn", "--summary-interval=0",
        "--download-result=hide",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  aria2c exited {proc.returncode}: {proc.stderr.strip()[:300]}")


def latency_bounds(names: list[str], n: int, seed: int) -> tuple[float, float]:
    """Latency-only lower bounds (s): sliding window ~ sum/N; fixed groups = sum of group maxima."""
    lows, highs = LATENCY
    draws = [
        random.Random(f"{seed}:/files/{name}:0").uniform(lows, highs) for name in names
    ]  # the server's own draws
    sliding = sum(draws) / n
    groups = sum(max(draws[i : i + n]) for i in range(0, len(draws), n))
    return sliding, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=2.0)
    parser.add_argument("-n", type=int, default=8, help="concurrency, the same for every method")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    size = int(args.size_mb * 1024 * 1024)
    total_mb = args.files * size / 1e6
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "served"
        root.mkdir()
        digests = make_files(root, args.files, size, args.seed)
        names = sorted(digests)
        sliding_bound, groups_bound = latency_bounds(names, args.n, args.seed)
        print(
            f"{args.files} files x {args.size_mb:g} MB = {total_mb:.0f} MB, N = {args.n}, "
            f"latency uniform {LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms per request "
            f"(seed {args.seed})"
        )
        print(
            f"latency-only lower bounds: sliding window {sliding_bound:.2f} s, "
            f"fixed groups {groups_bound:.2f} s (ratio {groups_bound / sliding_bound:.2f}x)"
        )

        methods = {
            "vidpipe download_many": run_vidpipe,
            "fixed groups (gather)": run_fixed_groups,
        }
        if shutil.which("aria2c"):
            methods[f"aria2c -j{args.n} -x1"] = run_aria2c
        timings: dict[str, float] = {}
        print(f"{'method':<24} {'wall s':>8} {'MB/s':>8} {'sha256 ok':>10}")
        for i, (label, fn) in enumerate(methods.items()):
            out = tmp / f"out{i}"
            out.mkdir()
            with MediaServer(root, latency=LATENCY, seed=args.seed) as server:
                start = time.perf_counter()
                fn(server, names, out, args.n)
                wall = time.perf_counter() - start
            ok = verify(out, digests)
            timings[label] = wall
            print(f"{label:<24} {wall:8.2f} {total_mb / wall:8.1f} {ok:>6}/{len(names)}")
            shutil.rmtree(out)
        if not shutil.which("aria2c"):
            print("aria2c: skipped (not on PATH; apt install aria2)")

        ours = timings["vidpipe download_many"]
        print(f"vidpipe vs fixed groups: {timings['fixed groups (gather)'] / ours:.2f}x faster")
        for label, wall in timings.items():
            if label.startswith("aria2c"):
                print(f"vidpipe / aria2c throughput: {wall / ours:.2f}x")


if __name__ == "__main__":
    main()
