"""The one stage cache: a stage's output is reused instead of recomputed.

A stage's output is kept in the catalog's ``stage_cache`` table (migration 0008) under
its key, :class:`CacheKey`: the stage's name and version, the
:func:`~vidpipe.hashing.options_hash` of its validated options, and the same hash over
what it worked on (:meth:`StageCache.input_hash`: the job's input with every file
replaced by its content's sha256, and each dependency's kind, result and files'
sha256). With the key go the folder the files were written in, the result (JSON)
and each file's path (relative to that folder), size and modification time.

:func:`run_cached` looks the key up before running a stage: a row whose files are
all still there, unchanged (same size and mtime), is the output, and nothing runs;
a row for another folder has its files copied into this one (atomically) first.
Otherwise the stage runs and its output is recorded. ``narrate`` runs its chain
(speak or transcribe, images, render) through it, so a rerun with the same input and
options does no work and leaves every file as it was.

Only stages whose whole effect is their files and result should go through the
cache: a cache hit skips the stage's other effects (rows it records in the catalog).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import delete, select

from vidpipe.files import atomic_path, check_readable_file, sha256_file
from vidpipe.hashing import options_hash
from vidpipe.library.models import StageCacheRow
from vidpipe.pipeline.stages import Stage, StageContext, StageInputs, StageResult

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = ["CacheKey", "StageCache", "run_cached"]

#: the StageInput fields that name one file (hashed by content)
_FILE_FIELDS = ("path", "audio", "music")


@dataclass(frozen=True)
class CacheKey:
    """What identifies a stage's output: ``stage`` name, its ``version``, the options'
    and the inputs' hashes (16 hex digits each, :func:`~vidpipe.hashing.options_hash`)."""

    stage: str
    version: int
    options_hash: str
    input_hash: str


class StageCache:
    """Stage outputs in the catalog's ``stage_cache`` table.

    Args:
        catalog: an open :class:`~vidpipe.library.catalog.Catalog` (the caller closes it).

    File hashes are remembered per (path, size, mtime) for the cache's lifetime, so a
    chain hashes each file once.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._hashes: dict[tuple[str, int, int], str] = {}

    # ------------------------------------------------------------------ keys

    def file_hash(self, path: str | os.PathLike[str]) -> str:
        """The sha256 (hex) of a file's bytes.

        Raises:
            InputError: the file is missing or unreadable.
        """
        p = check_readable_file(path)
        st = p.stat()
        memo = (os.fspath(p.resolve()), st.st_size, st.st_mtime_ns)
        if memo not in self._hashes:
            self._hashes[memo] = sha256_file(p)
        return self._hashes[memo]

    def input_hash(self, inputs: StageInputs) -> str:
        """The hash of what a stage works on: the given input (files by content, not
        by name) and each dependency's kind, result and files (by content), in order.

        Raises:
            InputError: a given or dependency file is missing or unreadable.
        """
        given: dict[str, Any] = inputs.given.model_dump(mode="json")
        for name in _FILE_FIELDS:  # a job:<id> file is hashed by content too
            if given.get(name):
                given[name] = {"sha256": self.file_hash(inputs.file(given[name]))}
        given["images"] = [{"sha256": self.file_hash(inputs.file(p))} for p in inputs.given.images]
        deps = [
            {
                "kind": d.kind,
                "result": d.result,
                "files": [[a.name, self.file_hash(a)] for a in d.artifacts],
            }
            for d in inputs.deps
        ]
        return options_hash({"given": given, "deps": deps})

    def key(self, stage: Stage, options: BaseModel, inputs: StageInputs) -> CacheKey:
        """The :class:`CacheKey` of running ``stage`` with ``options`` on ``inputs``."""
        return CacheKey(
            stage.name, stage.version, stage.options_hash(options), self.input_hash(inputs)
        )

    # ------------------------------------------------------------------ rows

    def lookup(self, key: CacheKey, work_dir: str | os.PathLike[str]) -> StageResult | None:
        """The output stored under ``key`` whose files are all unchanged, with its files
        in ``work_dir``: a row for that folder first, else one for another folder whose
        files are then copied in (and recorded for this folder). ``None``: no such
        output (a miss).

        Raises:
            OutputError: a file cannot be copied into ``work_dir``.
        """
        here = os.fspath(Path(work_dir).resolve())
        with self.catalog.session(write=False) as s:
            rows = list(
                s.scalars(
                    select(StageCacheRow)
                    .where(
                        StageCacheRow.stage == key.stage,
                        StageCacheRow.version == key.version,
                        StageCacheRow.options_hash == key.options_hash,
                        StageCacheRow.input_hash == key.input_hash,
                    )
                    .order_by(StageCacheRow.id.desc())
                )
            )
        rows.sort(key=lambda r: r.work_dir != here)  # this folder's rows first
        for row in rows:
            if not all(_unchanged(Path(row.work_dir), a) for a in row.artifacts):
                continue
            out = StageResult(result=row.result, artifacts=[a[0] for a in row.artifacts])
            if row.work_dir != here:
                _copy_artifacts(Path(row.work_dir), Path(here), out.artifacts)
                self.store(key, row.options, here, out)
            return out
        return None

    def store(
        self,
        key: CacheKey,
        options: BaseModel | dict[str, Any],
        work_dir: str | os.PathLike[str],
        out: StageResult,
    ) -> None:
        """Record ``out`` (its files relative to ``work_dir``, as they are now) under
        ``key``, replacing an earlier row for the same key and folder.

        Raises:
            CatalogError: the catalog cannot be written.
            OSError: an artifact is missing (the stage did not write what it said).
        """
        folder = Path(work_dir).resolve()
        files = []
        for rel in out.artifacts:
            st = (folder / rel).stat()
            files.append([rel, st.st_size, st.st_mtime_ns])
        opts = options.model_dump(mode="json") if isinstance(options, BaseModel) else options
        with self.catalog.session() as s:
            s.execute(
                delete(StageCacheRow).where(
                    StageCacheRow.stage == key.stage,
                    StageCacheRow.version == key.version,
                    StageCacheRow.options_hash == key.options_hash,
                    StageCacheRow.input_hash == key.input_hash,
                    StageCacheRow.work_dir == os.fspath(folder),
                )
            )
            s.add(
                StageCacheRow(
                    stage=key.stage,
                    version=key.version,
                    options_hash=key.options_hash,
                    input_hash=key.input_hash,
                    options=opts,
                    work_dir=os.fspath(folder),
                    result=out.result,
                    artifacts=files,
                )
            )


def _unchanged(folder: Path, artifact: list[Any]) -> bool:
    rel, size, mtime_ns = artifact
    try:
        st = (folder / rel).stat()
    except OSError:
        return False
    return st.st_size == size and st.st_mtime_ns == mtime_ns


def _copy_artifacts(src: Path, dest: Path, artifacts: list[str]) -> None:
    """Copy the artifacts inside ``src`` to the same relative paths in ``dest`` (each
    atomically; files outside ``src``, given by absolute path, stay where they are)."""
    for rel in artifacts:
        if Path(rel).is_absolute():
            continue
        with atomic_path(dest / rel) as tmp:
            shutil.copyfile(src / rel, tmp)
        with contextlib.suppress(OSError):  # keep the mtime, as for the source row
            st = (src / rel).stat()
            os.utime(dest / rel, ns=(st.st_atime_ns, st.st_mtime_ns))


def run_cached(
    stage: Stage,
    ctx: StageContext,
    inputs: StageInputs,
    options: BaseModel,
    cache: StageCache | None,
    *,
    force: bool = False,
) -> tuple[StageResult, bool]:
    """Run ``stage`` unless the cache has its output for these options and inputs.

    Args:
        stage: a registry stage.
        ctx: where it runs (``ctx.work_dir`` receives the files).
        inputs: what it runs on.
        options: its validated options (``stage.parse_options``).
        cache: the stage cache (``None``: always run, record nothing).
        force: run even on a hit (the new output replaces the stored one).

    Returns:
        ``(output, reused)``: the stage's result and artifacts (relative to
        ``ctx.work_dir``), and whether they came from the cache.

    Raises:
        Whatever the stage raises (a :class:`~vidpipe.errors.VidpipeError`).
    """
    if cache is None:
        return stage.run(ctx, inputs, options), False
    key = cache.key(stage, options, inputs)
    if not force:
        hit = cache.lookup(key, ctx.work_dir)
        if hit is not None:
            ctx.progress(1.0, f"{stage.name}: reused")
            return hit, True
    out = stage.run(ctx, inputs, options)
    cache.store(key, options, ctx.work_dir, out)
    return out, False
