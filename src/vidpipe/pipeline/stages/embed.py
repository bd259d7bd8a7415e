"""The ``embed`` stage: an audio embedding vector of a media item or file."""

from __future__ import annotations

import io
from typing import Any

from vidpipe.errors import VidpipeError
from vidpipe.files import write_files_together
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageResult,
)


def _embed_options():
    # imported here for start-up time: NumPy
    from vidpipe.pipeline.embed import EmbedOptions

    return EmbedOptions


class EmbedStage(Stage):
    """An audio embedding vector of a media item or file, stored in the catalog with
    the processing facts and reused for the same options
    (:func:`~vidpipe.pipeline.embed.embed_one`), and, with job files, ``embedding.npy``
    (the raw float32 vector).

    A media step that ``--steps all`` does not choose (``in_all`` False: ``all`` keeps
    meaning ingest, probe, audio, transcribe; name ``embed`` to run it). It decodes the
    media file itself, so it builds on no other stage's result (``builds_on`` empty);
    a file without an audio track is ``skipped: no audio track``. A failure of a job
    outside a source's chain (``/encode_audio``) is recorded in the catalog's failures
    on its item, as ``vidpipe embed`` records them (a chain's failure is recorded with
    its source when the chain ends).
    """

    name = "embed"
    takes = ("media", "file", "dep:audio")
    media_step = True
    in_all = False
    needs_audio = True
    resource = "cpu"
    builds_on = ()
    Options = _embed_options()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: NumPy
        import numpy as np

        from vidpipe.pipeline.embed import embed_audio, embed_one

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"embedding {path.name}")
        seconds = ctx.counter(f"embedding {path.name}")  # audio seconds per window
        if ctx.catalog is not None and mid is not None:
            try:
                row_id = embed_one(ctx.catalog, mid, options, ctx.threads, progress=seconds)
            except VidpipeError as exc:
                if inputs.given.source_id is None:
                    ctx.catalog.record_failure(
                        "embed", type(exc).__name__, exc.one_line(), media_id=mid
                    )
                raise
            row = ctx.catalog.embedding(mid, options.key())
            vec = np.frombuffer(row.vector, dtype="<f4")
            facts = {"duration": row.duration, "channels": row.channels, "row": row_id}
        else:
            vec = embed_audio(
                path, options.model, options.pool, layer=options.layer, progress=seconds
            )
            facts = {}
        result: dict[str, Any] = {"encoder": options.model, "pool": options.pool}
        result |= {"dim": int(vec.shape[0]), "options_hash": options.key()} | facts
        if mid is not None:
            result["media_id"] = mid
        ctx.progress(1.0, f"embedded {path.name}")
        if not ctx.write_artifacts:  # vidpipe run: the catalog row is the result
            return StageResult(result=result)
        buf = io.BytesIO()
        np.save(buf, vec.astype("<f4"), allow_pickle=False)
        out = ctx.path("embedding.npy")
        write_files_together({out: buf.getvalue()})
        return StageResult(result=result, artifacts=[ctx.relative(out)])
