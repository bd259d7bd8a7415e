"""Audio embedding commands: ``embed`` and ``similar``. Each parses, calls one pipeline
function (:mod:`vidpipe.pipeline.embed`) and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from vidpipe.cli._common import _catalog, _PoolOpt, _QuietOpt, _run, err, out
from vidpipe.errors import EXIT_OK, EXIT_SOME_FAILED

_ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        metavar="ENCODER",
        help="whisper (= whisper:base, 512 values), whisper:tiny.en (384), whisper:FOLDER, "
        "wav2vec2:FOLDER (also hubert:, wavlm:; needs vidpipe[wav2vec2]).",
    ),
]
_LayerOpt = Annotated[
    int | None,
    typer.Option("--layer", help="Hidden layer of a wav2vec2/HuBERT/WavLM model (default last)."),
]


def _options(model: str, pool: str, layer: int | None):
    from pydantic import ValidationError

    from vidpipe.pipeline.embed import EmbedOptions
    from vidpipe.pipeline.stages import options_error

    try:
        return EmbedOptions(model=model, pool=pool, layer=layer)
    except ValidationError as exc:
        raise options_error("embed", exc, "options") from None


def embed(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Item ids, media files, folders, link or record lists, URLs."),
    ] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item in the catalog.")] = False,
    model: _ModelOpt = "whisper",
    pool: _PoolOpt = "mean",
    layer: _LayerOpt = None,
    fit_pca: Annotated[
        int | None,
        typer.Option(
            "--fit-pca",
            min=1,
            metavar="N",
            help="Then fit a PCA to N dimensions on every stored vector of this encoder.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Then export the vectors: .npy, .jsonl or .parquet."),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    quiet: _QuietOpt = False,
) -> None:
    """Audio embedding vectors of items (stored in the catalog, float32, raw and reduced).

    Each item is an embed job in the catalog (vidpipe jobs list). Items already
    embedded with the same encoder and pooling are skipped, so a rerun after an
    interruption only does the rest. Exit 0 if none failed, 1 otherwise.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from vidpipe.pipeline.catalog_jobs import embed_sources

    opts = _run(lambda: _options(model, pool, layer))
    cat = _catalog()
    try:
        with Progress(
            "embedding",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task("embed", total=None)

            def progress(done: float, total: float) -> None:
                bar.update(task, completed=done, total=total)

            res = _run(
                lambda: embed_sources(
                    cat,
                    sources or [],
                    all_items=all_items,
                    options=opts,
                    fit_pca=fit_pca,
                    output=output,
                    threads=threads,
                    progress=progress,
                )
            )
    finally:
        cat.close()
    s = res.summary
    for name, why in res.not_embedded:
        err.print(f"not embedded: {name}: {why}", highlight=False)
    for mid, why in s.failures:
        err.print(Text.assemble(("failed", "red"), f" #{mid}: {why}"), highlight=False)
    for mid, why in s.skipped:
        err.print(f"skipped #{mid}: {why}", highlight=False)
    rate = f", {s.audio_seconds / s.seconds:.1f} s of audio per second" if s.seconds else ""
    skipped = f", {len(s.skipped)} skipped (no audio track)" if s.skipped else ""
    err.print(
        f"{s.encoder} ({opts.pool}): {s.embedded} embedded, {s.already} already done, "
        f"{len(s.failures)} failed{skipped}{rate}",
        highlight=False,
    )
    if res.pca is not None:
        p = res.pca
        if p.version is None:
            err.print(f"note: {p.note}", highlight=False)
        else:
            err.print(
                f"PCA v{p.version}: {p.n_items} items -> {p.n_components} dimensions, "
                f"{100 * (p.explained or 0):.1f} % of the variance",
                highlight=False,
            )
    for path in res.written:
        err.print(f"wrote {path}", highlight=False)
    raise typer.Exit(EXIT_SOME_FAILED if s.failures or res.not_embedded else EXIT_OK)


def similar(
    query: Annotated[str, typer.Argument(help="An item id, or an audio/video file.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many neighbours.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    model: _ModelOpt = "whisper",
    pool: _PoolOpt = "mean",
    layer: _LayerOpt = None,
) -> None:
    """The stored items that sound most like ITEM or FILE (exact cosine search), best first."""
    from vidpipe.pipeline.embed import similar as find

    opts = _run(lambda: _options(model, pool, layer))
    cat = _catalog()
    try:
        hits = _run(lambda: find(query, k, opts, catalog=cat))
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    t = Table(title=f"most similar to {query}", title_justify="left")
    for col in ("#", "id", "score", "record", "path"):
        t.add_column(col, justify="right" if col in ("#", "id", "score") else "left")
    for i, h in enumerate(hits, 1):
        t.add_row(str(i), str(h.media_id), f"{h.score:.4f}", Text(h.record_id or "-"), Text(h.path))
    out.print(t)
