"""Render benchmark: vidpipe's slideshow renderer vs MoviePy vs bare encoding (prints, no asserts).

The same slideshow is made three ways, in one run, at each ``--sizes`` frame size:
the 10 photos of ``tests/data/photos`` (sorted), 3.0 s per slide, 24 fps, Ken Burns
zoom 1.1 cycling zoom in / pan right / zoom out / pan left, 0.5 s crossfades, no audio,
libx264 preset medium, CRF 20, 2 encoder threads, yuv420p MP4.

* ``vidpipe``: ``render_slideshow`` (OpenCV warps of yuv420p planes on a worker thread,
  PyAV libx264 in-process). Slide durations 2.75, 2.5 x 8, 2.75 s put the 0.5 s
  transitions (centred on slide boundaries) exactly where MoviePy's are, so every slide
  is on screen over the same seconds as its MoviePy clip; both last 25.5 s = 612 frames.
* ``moviepy`` (2.2.1, the ``bench`` extra): per photo an ``ImageClip`` of the photo
  contained in the frame over a blurred, darkened fill (made once per photo with Pillow,
  vidpipe's look), Ken Burns as MoviePy users write it (``resized(lambda t: ...)`` for
  zooms, a constant ``resized(1.1)`` plus a moving ``with_position`` for pans), cropped
  to the frame by a ``CompositeVideoClip`` of the frame size, ``CrossFadeIn(0.5)`` on
  all but the first clip, ``concatenate_videoclips(method="compose", padding=-0.5)``
  and ``write_videofile`` through imageio-ffmpeg's bundled ffmpeg. ``moviepy`` leaves
  the composites' ``bg_color`` at its default ``None`` (as MoviePy's docs and users
  write it): MoviePy then composites an alpha mask for every frame and pipes RGBA.
  ``moviepy-opaque`` passes ``bg_color=(0, 0, 0)``, the same picture about 1.7x faster
  (measured at 1280x720): the stronger baseline, printed beside the target's.
* ``encode-only``: the frames vidpipe encodes (drawn before timing starts by vidpipe's
  own frame drawer, held in memory as yuv420p ``av.VideoFrame``s: about 1.9 GB at
  1080p) fed to PyAV libx264 with vidpipe's exact encoder set-up and muxed to MP4: the
  floor for any renderer that uses this encoder.

Each method runs in its own child process (this script with a hidden ``--one``), so
its peak RSS (``ru_maxrss``) is its own; MoviePy's ffmpeg child is reported separately;
the encode-only peak includes the precomputed frames. Wall time (``perf_counter``)
covers everything after the imports: image loading, drawing, encoding and muxing;
``cpu s`` is the user + system CPU time over the same span (all threads, and MoviePy's
ffmpeg), a steadier figure than wall time when other processes share the cores.
With ``--repeat N`` the methods run in rounds and the best time of N is reported
(peak RSS: the largest). Frame counts of the three outputs are probed with PyAV.

Targets (2-core machine): vidpipe >= 3.5x faster than MoviePy, vidpipe <= 1.15x the
encode-only time, vidpipe peak RSS <= 500 MB at 1920x1080.

Usage::

    pip install -e ".[bench]" && python benchmarks/render.py
    python benchmarks/render.py [--sizes 1280x720,1920x1080] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
METHODS = ("vidpipe", "moviepy", "moviepy-opaque", "encode-only")
BASE = "vidpipe"

FPS = 24
SLIDE = 3.0  # seconds each MoviePy clip lasts (and each slide is on screen)
FADE = 0.5  # crossfade seconds
ZOOM = 1.1
CYCLE = ("in", "right", "out", "left")  # vidpipe's motion="vary"
PRESET, CRF, THREADS = "medium", 20, 2

TARGET_SPEEDUP = 3.5  # MoviePy time / vidpipe time, at least
TARGET_OVERHEAD = 1.15  # vidpipe time / encode-only time, at most
TARGET_RSS_MB = 500  # vidpipe peak RSS at 1920x1080, at most


def photos() -> list[Path]:
    paths = sorted(p for p in PHOTOS.iterdir() if p.is_file())
    if len(paths) != 10:
        raise SystemExit(f"expected 10 photos in {PHOTOS}, found {len(paths)}")
    return paths


def total_seconds(n: int) -> float:
    """MoviePy's length: n clips of SLIDE s overlapped by FADE s (padding=-FADE)."""
    return n * SLIDE - (n - 1) * FADE


def vidpipe_durations(n: int) -> list[float]:
    """Seconds per slide so vidpipe's transitions (centred on the bounds) fall on MoviePy's.

    MoviePy clip ``i`` starts at ``i * (SLIDE - FADE)`` and fades in over ``FADE``; the
    bound between slides ``i - 1`` and ``i`` is therefore ``i * (SLIDE - FADE) + FADE / 2``.
    """
    first = last = SLIDE - FADE / 2
    return [first] + [SLIDE - FADE] * (n - 2) + [last]


def read_photos(paths: list[Path]) -> None:
    """Read every photo once so no method pays for a cold file cache."""
    for p in paths:
        p.read_bytes()


def maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its waited-for children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall (``perf_counter``) and CPU seconds from construction to :meth:`stop`."""

    def __init__(self) -> None:
        self.cpu0, self.wall0 = cpu_seconds(), time.perf_counter()

    def stop(self, **result) -> dict:
        wall = time.perf_counter() - self.wall0
        return {"seconds": wall, "cpu": cpu_seconds() - self.cpu0, **result}


# --------------------------------------------------------------------------- methods


def run_vidpipe(size: tuple[int, int], out: Path, _args: argparse.Namespace) -> dict:
    import cv2  # noqa: F401  (imported lazily by the renderer; keep the import untimed)

    from vidpipe.media.render import RenderOptions, render_slideshow

    paths = photos()
    read_photos(paths)
    opts = RenderOptions(
        width=size[0], height=size[1], fps=FPS, threads=THREADS, preset=PRESET, crf=CRF,
        subtitles="none", zoom=ZOOM, motion="vary", transition="crossfade",
        transition_duration=FADE, fit="fit",
    )  # fmt: skip
    clock = Clock()
    result = render_slideshow(paths, out, durations=vidpipe_durations(len(paths)), options=opts)
    return clock.stop(frames=result.frames)


def _fit_canvas(path: Path, size: tuple[int, int]):
    """The photo contained in the frame over a blurred, darkened fill of itself (RGB array)."""
    import numpy as np
    from PIL import Image, ImageEnhance, ImageFilter, ImageOps

    w, h = size
    with Image.open(path) as im:
        img = ImageOps.exif_transpose(im).convert("RGB")
    small = ImageOps.fit(img, (w // 16, h // 16), Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(radius=max(1.0, w / 16 / 40)))
    bg = ImageEnhance.Brightness(small.resize(size, Image.Resampling.BICUBIC)).enhance(0.55)
    fg = ImageOps.contain(img, size, Image.Resampling.LANCZOS)
    bg.paste(fg, ((w - fg.width) // 2, (h - fg.height) // 2))
    return np.asarray(bg)


def run_moviepy(
    size: tuple[int, int], out: Path, _args: argparse.Namespace, bg: tuple | None = None
) -> dict:
    from moviepy import CompositeVideoClip, ImageClip, concatenate_videoclips, vfx

    w, h = size
    paths = photos()
    read_photos(paths)
    clock = Clock()
    clips = []
    for i, path in enumerate(paths):
        clip = ImageClip(_fit_canvas(path, size)).with_duration(SLIDE)
        motion = CYCLE[i % len(CYCLE)]
        if motion == "in":
            clip = clip.resized(lambda t: ZOOM ** (t / SLIDE)).with_position("center")
        elif motion == "out":
            clip = clip.resized(lambda t: ZOOM ** (1 - t / SLIDE)).with_position("center")
        else:
            clip = clip.resized(ZOOM)
            dx, dy = clip.w - w, (clip.h - h) / 2
            if motion == "right":
                clip = clip.with_position(lambda t, dx=dx, dy=dy: (-dx * t / SLIDE, -dy))
            else:
                clip = clip.with_position(lambda t, dx=dx, dy=dy: (-dx * (1 - t / SLIDE), -dy))
        clip = CompositeVideoClip([clip], size=size, bg_color=bg)
        if i:
            clip = clip.with_effects([vfx.CrossFadeIn(FADE)])
        clips.append(clip)
    video = concatenate_videoclips(clips, method="compose", padding=-FADE, bg_color=bg)
    video.write_videofile(
        str(out), fps=FPS, codec="libx264", preset=PRESET, threads=THREADS, audio=False,
        ffmpeg_params=["-crf", str(CRF), "-pix_fmt", "yuv420p"], logger=None,
    )  # fmt: skip
    result = clock.stop(frames=int(video.duration * FPS))  # the frames iter_frames sends
    video.close()
    return result


def _precomputed_frames(size: tuple[int, int], scratch: Path) -> tuple[list, str]:
    """The yuv420p frames vidpipe encodes, as ``av.VideoFrame``s, and how they were made."""
    import av
    import numpy as np

    from vidpipe.media import render

    paths = photos()
    opts = render.RenderOptions(
        width=size[0], height=size[1], fps=FPS, zoom=ZOOM, motion="vary",
        transition="crossfade", transition_duration=FADE, fit="fit", subtitles="none",
    )  # fmt: skip
    plan = render.plan_slides(len(paths), durations=vidpipe_durations(len(paths)), options=opts)
    n = max(1, round(plan.bounds[-1] * FPS))
    w, h = size
    try:  # vidpipe's own frame drawer: byte-identical encoder input (private API)
        drawer = render._Frames(paths, plan, opts, [])
        buf = np.empty((h * 3 // 2, w), np.uint8)
        frames = []
        for k in range(n):
            drawer.frame(k, render._planes(buf, w, h))
            frames.append(av.VideoFrame.from_ndarray(buf, format="yuv420p"))  # copies
        drawer.close()
        return frames, "drawn by vidpipe's frame drawer"
    except (AttributeError, TypeError, ValueError):  # the private drawer changed: decode a render
        tmp = scratch / "encode-only-source.mp4"
        render.render_slideshow(paths, tmp, durations=vidpipe_durations(len(paths)), options=opts)
        with av.open(str(tmp)) as container:
            frames = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
        tmp.unlink()
        return frames, "decoded from a vidpipe render"


def run_encode_only(size: tuple[int, int], out: Path, _args: argparse.Namespace) -> dict:
    import av

    frames, source = _precomputed_frames(size, out.parent)
    rate = Fraction(FPS)
    clock = Clock()
    container = av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"})
    try:  # vidpipe's encoder set-up, line for line
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        cc = stream.codec_context
        cc.options = {"crf": str(CRF), "preset": PRESET}
        cc.thread_count = THREADS
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709
        for k, frame in enumerate(frames):
            frame.pts = k
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return clock.stop(frames=len(frames), source=source)


RUNNERS = {
    "vidpipe": run_vidpipe,
    "moviepy": run_moviepy,  # as MoviePy users write it: bg_color=None (alpha masks)
    "moviepy-opaque": lambda size, out, args: run_moviepy(size, out, args, bg=(0, 0, 0)),
    "encode-only": run_encode_only,
}


def one(args: argparse.Namespace) -> None:
    """Child process: run one method once and print a JSON line."""
    w, h = parse_size(args.size)
    result = RUNNERS[args.one]((w, h), Path(args.out), args)
    result["rss_mb"] = maxrss_mb(resource.RUSAGE_SELF)
    result["child_rss_mb"] = maxrss_mb(resource.RUSAGE_CHILDREN)  # MoviePy's ffmpeg
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def probe(path: Path) -> tuple[int, str, float]:
    """(video packets = frames, pixel format, file MB) of an output, via PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pix_fmt = stream.codec_context.pix_fmt or "?"
        frames = sum(1 for p in container.demux(stream) if p.size)
    return frames, pix_fmt, path.stat().st_size / 1e6


def run_child(method: str, size: str, out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", method, "--size", size]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SystemExit(f"{method} at {size} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULT ") :])


def versions() -> str:
    from importlib.metadata import version

    import av
    import imageio_ffmpeg

    lavc = ".".join(map(str, av.library_versions["libavcodec"]))
    ffmpeg = imageio_ffmpeg.get_ffmpeg_version()
    return (
        f"PyAV {av.__version__} (libavcodec {lavc}); moviepy {version('moviepy')} with "
        f"imageio-ffmpeg {imageio_ffmpeg.__version__} (ffmpeg {ffmpeg})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WxH list")
    ap.add_argument("--repeat", type=int, default=1, help="runs per method (best time)")
    ap.add_argument("--keep", type=Path, help="keep the output videos in this folder")
    ap.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args)
        return 0

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    n = len(photos())
    total = total_seconds(n)
    n_frames = round(total * FPS)
    durs = vidpipe_durations(n)
    print(
        f"{n} photos from {PHOTOS.relative_to(ROOT)}, {SLIDE:g} s per clip, {FADE:g} s "
        f"crossfades, Ken Burns zoom {ZOOM:g} ({' / '.join(CYCLE)}), {FPS} fps, no audio; "
        f"{total:g} s = {n_frames} frames"
    )
    print(
        f"libx264 preset {PRESET}, CRF {CRF}, {THREADS} threads, yuv420p MP4; "
        f"best of {args.repeat}; {versions()}"
    )
    print(
        f"vidpipe: durations {durs[0]:g}, {durs[1]:g} x {n - 2}, {durs[-1]:g} s (transitions "
        "centred on the bounds = MoviePy's fade-ins), fit over a blurred fill"
    )
    print(
        "moviepy: photo contained in the frame over a blurred fill (Pillow, once per photo), "
        "resized()/with_position() Ken Burns, composites with the default bg_color=None "
        "(alpha masks); moviepy-opaque: the same with bg_color=(0, 0, 0)"
    )
    print(
        "encode-only: vidpipe's frames precomputed in memory before timing "
        "(~1.9 GB at 1920x1080; counted in its peak RSS)"
    )

    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    keep = args.keep
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-render-") as tmp_name:
        folder = keep or Path(tmp_name)
        for size in sizes:
            best: dict[str, dict] = {}
            for _ in range(args.repeat):
                for method in METHODS:
                    out = folder / f"{method}-{size}.mp4"
                    res = run_child(method, size, out, args)
                    prev = best.get(method)
                    if prev is not None:  # keep the best time and the largest peaks
                        for key in ("rss_mb", "child_rss_mb"):
                            res[key] = max(res[key], prev[key])
                        if prev["seconds"] <= res["seconds"]:
                            res["seconds"], res["cpu"] = prev["seconds"], prev["cpu"]
                    best[method] = res
            print(f"\n{size}")
            header = (
                f"  {'method':<14} {'wall s':>8} {'cpu s':>7} {'frames/s':>9} {'frames':>7} "
                f"{'probed':>7} {'pix_fmt':>8} {'MB':>6} {'peak RSS MB':>12} {'ffmpeg RSS MB':>14}"
            )
            print(header)
            for method in METHODS:
                r = best[method]
                frames, pix_fmt, mb = probe(folder / f"{method}-{size}.mp4")
                r["probed"] = frames
                child = f"{r['child_rss_mb']:.0f}" if method.startswith("moviepy") else "-"
                print(
                    f"  {method:<14} {r['seconds']:8.2f} {r['cpu']:7.1f} "
                    f"{r['frames'] / r['seconds']:9.1f} {r['frames']:>7} {frames:>7} "
                    f"{pix_fmt:>8} {mb:6.1f} {r['rss_mb']:12.0f} {child:>14}"
                )
            counts = {best[m]["probed"] for m in METHODS}
            same = "equal" if len(counts) == 1 else "DIFFERENT"
            print(f"  frame counts: {same} ({', '.join(str(best[m]['probed']) for m in METHODS)})")
            if "source" in best["encode-only"]:
                print(f"  encode-only frames {best['encode-only']['source']}")
            v, m, mo, e = (best[k]["seconds"] for k in METHODS)
            cv, cm, cmo, ce = (best[k]["cpu"] for k in METHODS)
            print(
                f"  vidpipe vs moviepy: {m / v:.2f}x faster (moviepy s / vidpipe s; "
                f"CPU seconds: {cm / cv:.2f}x)"
            )
            print(
                f"  vidpipe vs moviepy-opaque: {mo / v:.2f}x faster (CPU seconds: {cmo / cv:.2f}x)"
            )
            print(f"  vidpipe / encode-only: {v / e:.3f}x (CPU seconds: {cv / ce:.3f}x)")
            summary[size] = best

    print("\nload average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    speedups = {s: b["moviepy"]["seconds"] / b[BASE]["seconds"] for s, b in summary.items()}
    opaque = {s: b["moviepy-opaque"]["seconds"] / b[BASE]["seconds"] for s, b in summary.items()}
    overheads = {s: b[BASE]["seconds"] / b["encode-only"]["seconds"] for s, b in summary.items()}
    speed_ok = all(x >= TARGET_SPEEDUP for x in speedups.values())
    over_ok = all(x <= TARGET_OVERHEAD for x in overheads.values())
    big = next((s for s in summary if parse_size(s) == (1920, 1080)), None)
    if big is None:
        rss_text = "peak RSS at 1920x1080 not measured (add 1920x1080 to --sizes)"
    else:
        rss = summary[big][BASE]["rss_mb"]
        rss_text = (
            f"vidpipe peak RSS at 1920x1080 {rss:.0f} MB (target <= {TARGET_RSS_MB} MB: "
            f"{'met' if rss <= TARGET_RSS_MB else 'NOT met'})"
        )
        print(f"\nvidpipe peak RSS at 1920x1080: {rss:.0f} MB")

    def fmt(values: dict[str, float], digits: int) -> str:
        return ", ".join(f"{s} {x:.{digits}f}x" for s, x in values.items())

    print(
        f"\ntargets: vs MoviePy {fmt(speedups, 2)} (target >= {TARGET_SPEEDUP}x faster: "
        f"{'met' if speed_ok else 'NOT met'}; vs moviepy-opaque {fmt(opaque, 2)}); "
        f"vs encode-only {fmt(overheads, 3)} "
        f"(target <= {TARGET_OVERHEAD}x: {'met' if over_ok else 'NOT met'}); {rss_text}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
