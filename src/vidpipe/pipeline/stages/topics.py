"""The ``topics`` stage: topics over the catalog's items (or a selection)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from vidpipe.errors import InputError, UsageError
from vidpipe.library.select import Selection
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.pipeline.understand import catalog_topics
from vidpipe.types import Names


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
