"""The batch runner moved to :mod:`vidpipe.pipeline.runner` (pipeline is the home of
orchestration); this name keeps ``from vidpipe.library.runner import Runner`` working."""

from vidpipe.pipeline.runner import (  # noqa: F401
    AUDIO_STAGES,
    CPU_STAGES,
    DEFAULT_ALL,
    NO_AUDIO,
    STEPS,
    Display,
    RichDisplay,
    Runner,
    RunOptions,
    RunSummary,
    parse_steps,
    run,
)

__all__ = [
    "STEPS",
    "Display",
    "RichDisplay",
    "RunOptions",
    "RunSummary",
    "Runner",
    "parse_steps",
    "run",
]
