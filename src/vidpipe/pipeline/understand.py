"""The work behind ``summarize``, ``chapters``, ``topics`` and ``describe``: one function
per command shape, called by the command line (and the ``topics`` stage).

Each function takes an open catalog, the command's checked options and callbacks:

- ``progress(done, total, what)``: items (or scenes) done of ``total`` (``None`` while
  unknown), ``what`` is a one-line description of the current item;
- ``report(line)``: a one-line note for the user (an item skipped or left out, and
  why); the command line prints it on stderr;
- ``on_item(outcome)``: one :class:`ItemOutcome` per selected item, as soon as it is done.

Results are computed, stored and written by :mod:`vidpipe.library.understanding`; the
functions here resolve targets and selections, pick output folders and names (an item's
stem, numbered when two items share one: :func:`vidpipe.files.item_stem`) and loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vidpipe.errors import InputError
from vidpipe.files import item_stem
from vidpipe.library import understanding as u
from vidpipe.library.select import select_noted
from vidpipe.pipeline.stages.chapters import chapters_media
from vidpipe.pipeline.stages.describe import describe_media, resolve_video
from vidpipe.pipeline.stages.summarize import summarize_media
from vidpipe.pipeline.stages.transcribe import resolve_input

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.select import Selection
    from vidpipe.library.understanding import TextOptions

__all__ = [
    "ItemOutcome",
    "UnderstandOutcome",
    "describe_selected",
    "describe_target",
    "understand_selected",
    "understand_target",
]

Kind = Literal["summarize", "chapters"]
Progress = Callable[[float, "float | None", str], None]  # (done, total, what)
Report = Callable[[str], None]


def _noop(*_args: Any) -> None:
    return None


@dataclass
class UnderstandOutcome:
    """A summary (``Summary``) or chapters (``list[Chapter]``) of one target: its file
    stem, whether it was computed now (else stored), and the files written."""

    result: Any
    stem: str
    computed: bool
    paths: list[Path]


@dataclass
class ItemOutcome:
    """One selected catalog item's outcome: ``result`` (a summary, chapters or scenes)
    and the files written (``paths``; for describe, ``output_dir``), or the ``error``
    it failed with. ``computed`` is False for a stored result."""

    media_id: int
    name: str
    result: Any = None
    computed: bool = False
    paths: list[Path] = field(default_factory=list)
    output_dir: Path | None = None
    error: BaseException | None = None


def _selected(cat: Catalog, selection: Selection, report: Report | None):
    chosen = select_noted(cat, selection, report=report)
    if not chosen.items:
        raise InputError("no catalog items match the selection", "see vidpipe report")
    return chosen.items


def _write(kind: Kind, result: Any, dest: Path, stem: str) -> list[Path]:
    if kind == "summarize":
        return u.write_summary(result, dest, stem)
    return u.write_chapters(result, dest, stem)


def understand_target(
    cat: Catalog,
    kind: Kind,
    target: str,
    opts: TextOptions,
    *,
    model: str | None = None,
    out_dir: str | Path | None = None,
    force: bool = False,
) -> UnderstandOutcome:
    """Summary or chapters of one ``target`` (a catalog item id or a media file; a file
    not in the catalog is transcribed with ``model`` first and recorded), computed or
    the stored one for the same options (``force``: recompute), written to ``out_dir``
    (default: the current folder) as ``<stem>.summary.*`` / ``<stem>.chapters.*``.

    Raises:
        InputError: no such item or file, or an item without a transcript.
        MediaError, ModelError, RemoteError, OutputError: transcribing, the text
            backend, or writing failed.
    """
    media_id, tr, stem = resolve_input(cat, target, model, opts.language)
    fn = summarize_media if kind == "summarize" else chapters_media
    result, computed = fn(cat, media_id, tr, opts, force=force)
    dest = Path(out_dir) if out_dir else Path.cwd()
    return UnderstandOutcome(result, stem, computed, _write(kind, result, dest, stem))


def _is_silent(media) -> bool:
    """Probed, and no audio track."""
    return media.probe is not None and media.audio_codec is None


def understand_selected(
    cat: Catalog,
    kind: Kind,
    selection: Selection,
    opts: TextOptions,
    *,
    out_dir: str | Path | None = None,
    force: bool = False,
    on_item: Callable[[ItemOutcome], None] = _noop,
    progress: Progress = _noop,
    report: Report = _noop,
) -> int:
    """Summary or chapters of every selected catalog item, each written to ``out_dir``
    (default: the current folder) under its own stem; items without an audio track are
    skipped (reported). An item's failure is its outcome's ``error``; the others go on.

    Returns:
        The number of items that failed.

    Raises:
        InputError: the selection matches no item.
    """
    items = _selected(cat, selection, report)
    dest = Path(out_dir) if out_dir else Path.cwd()
    fn = summarize_media if kind == "summarize" else chapters_media
    used: set[str] = set()
    failed = 0
    progress(0, len(items), kind)
    for done, m in enumerate(items):
        name = Path(m.path).name
        progress(done, len(items), f"{kind} #{m.id} {name}")
        if _is_silent(m):
            report(f"skipped #{m.id} {name}: no audio track")
            continue
        try:
            tr = cat.get_transcript(m.id)
            if tr is None:
                raise InputError(
                    f"item {m.id} has no transcript yet",
                    "run: vidpipe run --steps probe,audio,transcribe",
                )
            result, computed = fn(cat, m.id, tr, opts, force=force)
            stem = item_stem(Path(m.path).stem, m.id, used)
            paths = _write(kind, result, dest, stem)
        except Exception as exc:
            failed += 1
            on_item(ItemOutcome(m.id, name, error=exc))
            continue
        on_item(ItemOutcome(m.id, name, result=result, computed=computed, paths=paths))
    progress(len(items), len(items), kind)
    return failed


def describe_target(
    cat: Catalog,
    target: str,
    *,
    out_dir: str | Path | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[list, Path]:
    """Scenes of one video (a file or a catalog item id), written to ``out_dir``
    (default ``./<stem>.describe``). Returns ``(scenes, folder)``.

    Raises:
        InputError: no such item or file. MediaError: not a video (audio only).
        RemoteError: the vision endpoint failed. OutputError: the folder cannot be
        written.
    """
    media_id, tr, stem, path = resolve_video(cat, target, model, language)
    dest = Path(out_dir) if out_dir else Path.cwd() / f"{stem}.describe"
    scenes = describe_media(
        cat, media_id, path, dest, tr, vlm_base, vlm_model, frames_per_scene, progress=progress
    )
    return scenes, dest


def describe_selected(
    cat: Catalog,
    selection: Selection,
    *,
    out_dir: str | Path | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    model: str | None = None,
    on_item: Callable[[ItemOutcome], None] = _noop,
    progress: Progress = _noop,
    scene_progress: Callable[[float, float | None], None] = _noop,
    report: Report = _noop,
) -> int:
    """Scenes of every selected video, one folder each: ``<out_dir>/<stem>.describe``
    (``out_dir`` default: the current folder); audio-only items are skipped (reported).
    ``scene_progress(done, total)`` follows the current item's scenes (``total`` is
    ``None`` when a new item starts).

    Returns:
        The number of items that failed.

    Raises:
        InputError: the selection matches no item.
    """
    items = _selected(cat, selection, report)
    base = Path(out_dir) if out_dir else Path.cwd()
    used: set[str] = set()
    failed = 0
    progress(0, len(items), "describe")
    for done, m in enumerate(items):
        name = Path(m.path).name
        progress(done, len(items), f"describe #{m.id} {name}")
        scene_progress(0, None)
        if m.probe is not None and m.video_codec is None:
            report(f"skipped #{m.id} {name}: audio only")
            continue
        try:
            media_id, tr, stem, path = resolve_video(cat, str(m.id), model)
            dest = base / f"{item_stem(stem, m.id, used)}.describe"
            scenes = describe_media(
                cat,
                media_id,
                path,
                dest,
                tr,
                vlm_base,
                vlm_model,
                frames_per_scene,
                progress=scene_progress,
            )
        except Exception as exc:
            failed += 1
            on_item(ItemOutcome(m.id, name, error=exc))
            continue
        on_item(ItemOutcome(m.id, name, result=scenes, output_dir=dest))
    progress(len(items), len(items), "describe")
    return failed
