"""The ``topics`` stage: topics over the catalog's items (or a selection)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from vidpipe.errors import InputError, UsageError
from vidpipe.library import understanding as u
from vidpipe.library.catalog import Catalog
from vidpipe.library.select import Selection, select_noted
from vidpipe.library.understanding import TextOptions, store_topics, topic_items
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.types import Names, Topic


class TopicsStage(Stage):
    """Topics over the catalog's items (:func:`vidpipe.pipeline.understand.catalog_topics`):
    the given items (``ids``) or every item with a transcript or scenes, narrowed by the
    selection options; ``topics.json`` and ``topics.md`` in the job folder. The result
    is the topics, how many items took part and the items left out with their reason."""

    name = "topics"
    takes = ()

    class Options(StageOptions):
        ids: list[int] | None = Field(None, description="item ids (None: every item)")
        n_topics: int | None = Field(None, ge=1, description="None: chosen from the data")
        llm_base: Annotated[str | None, Names("url")] = Field(
            None, description="chat endpoint that names topics"
        )
        llm_model: str | None = None
        shortest: int | None = Field(None, ge=1)
        longest: int | None = Field(None, ge=1)
        min_duration: float | None = Field(None, ge=0, description="seconds")
        max_duration: float | None = Field(None, ge=0, description="seconds")
        language: str | None = None
        select_ids: list[int] | None = Field(
            None, description="keep only these item ids (the selection's --ids)"
        )

        @model_validator(mode="after")
        def _check(self):
            try:
                self.selection()
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

        def selection(self):
            return Selection(
                shortest=self.shortest,
                longest=self.longest,
                min_duration=self.min_duration,
                max_duration=self.max_duration,
                language=self.language,
                ids=tuple(self.select_ids) if self.select_ids is not None else None,
            )

    def check_input(self, given, dep_kinds, item_kinds=()) -> None:
        """A topics job works on the catalog: it needs no input."""

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        if ctx.catalog is None:
            raise InputError("a topics job needs a catalog", "run it from a job store")
        ctx.progress(0.0, "topics")
        found = catalog_topics(
            ctx.catalog,
            items=options.ids,
            selection=options.selection(),
            n_topics=options.n_topics,
            llm_base=options.llm_base,
            llm_model=options.llm_model,
            out_dir=ctx.work_dir,
        )
        return StageResult(
            result={
                "topics": [t.model_dump(mode="json") for t in found.topics],
                "n_items": found.n_items,
                "left_out": [{"media_id": m, "reason": r} for m, r in found.left_out],
            },
            artifacts=[ctx.relative(p) for p in found.paths],
        )


# ------------------------------------------------------------------- the work on catalog items


def topics_for_catalog(
    cat: Catalog,
    n_topics: int | None = None,
    namer: Callable | None = None,
    media_ids: Sequence[int] | None = None,
) -> tuple[list[Topic], int, list[tuple[int, str]]]:
    """Cluster items (``media_ids``, default every item with a transcript or scenes) by
    topic; store the run. Returns ``(topics, n_items_used, left_out)`` where
    ``left_out`` is ``(media_id, reason)`` for items without enough text
    (:func:`vidpipe.text.topics.usable_items`)."""
    from vidpipe.text.topics import find_topics, usable_items

    items, left_out = usable_items(topic_items(cat, media_ids))
    script = u.settings_script()
    topics = find_topics(items, n_topics=n_topics, namer=namer, zh_script=script)
    store_topics(
        cat,
        topics,
        len(items),
        {"n_topics": n_topics, "named": namer is not None, "items": media_ids, "zh_script": script},
    )
    return topics, len(items), left_out


def llm_topic_namer(
    llm_base: str | None = None, llm_model: str | None = None, catalog: Catalog | None = None
):
    """A topic namer backed by the configured LLM, or None when none is configured or
    the text backend cannot name topics."""
    from vidpipe.config import get_settings

    base = llm_base or getattr(get_settings(), "llm_base", None)
    if not base:
        return None
    try:
        backend = TextOptions("openai", base, llm_model).get_backend(catalog)
    except Exception:
        return None
    fn = getattr(backend, "name_topic", None)
    return fn if callable(fn) else None


@dataclass
class TopicsOutcome:
    """Topics over the catalog: the topics, the items' names by id, the files written
    (``topics.json``, ``topics.md``), how many items took part and those left out
    (``(media_id, reason)``)."""

    topics: list[Topic]
    names: dict[int, str]
    paths: list[Path]
    n_items: int
    left_out: list[tuple[int, str]]


def catalog_topics(
    cat: Catalog,
    *,
    items: Sequence[int] | None = None,
    selection: Selection | None = None,
    n_topics: int | None = None,
    llm_base: str | None = None,
    llm_model: str | None = None,
    out_dir: str | Path | None = None,
    report: Callable[[str], None] = lambda _line: None,
) -> TopicsOutcome:
    """Group catalog items by topic (:func:`~vidpipe.library.understanding.topics_for_catalog`)
    and write ``topics.json`` and ``topics.md``.

    Args:
        cat: an open catalog.
        items: item ids to group (``None``: every item with a transcript or scenes).
        selection: narrows ``items`` (or the whole catalog) when active.
        n_topics: number of topics (``None``: chosen from the data).
        llm_base, llm_model: a chat endpoint that names the topics (default
            VIDPIPE_LLM_BASE; none: topics are named by their keywords).
        out_dir: the folder (default ``$VIDPIPE_HOME/understanding``).
        report: receives one line per item left out, with its reason.

    Raises:
        InputError: an unknown item id, a selection that matches nothing, or no item
            with speech or on-screen text.
        OutputError: the files cannot be written.
    """
    wanted: list[int] | None = None
    if items:
        known = {m.id for m in cat.all_media()}
        missing = sorted(set(items) - known)
        if missing:
            raise InputError(
                f"no item with id {', '.join(map(str, missing))} in the catalog",
                "see vidpipe report",
            )
        wanted = list(dict.fromkeys(items))
    if selection is not None and selection.active:
        wanted = select_noted(cat, selection, wanted, report).ids
        if not wanted:
            raise InputError("no catalog items match the selection", "see vidpipe report")
    namer = llm_topic_namer(llm_base, llm_model, cat)
    names = u.media_names(cat)
    found, n, left_out = topics_for_catalog(cat, n_topics, namer, wanted)
    for mid, reason in left_out:
        report(f"left out #{mid} {names.get(mid, mid)}: {reason}")
    if not found:
        raise InputError(
            "no items with speech or on-screen text to group",
            "run vidpipe run (transcribe) or vidpipe describe first",
        )
    paths = u.write_topics(found, Path(out_dir) if out_dir else u.default_out_dir(), names)
    return TopicsOutcome(found, names, paths, n, left_out)
