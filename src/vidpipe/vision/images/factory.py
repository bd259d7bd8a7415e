"""The image generator a spec string names: :func:`get_image_generator`."""

from __future__ import annotations

from typing import Any

from vidpipe.errors import UsageError
from vidpipe.vision.images.base import GENERATOR_SPECS, ImageGenerator
from vidpipe.vision.images.cards import CardGenerator
from vidpipe.vision.images.folder import FolderImages
from vidpipe.vision.images.frames import FrameImages
from vidpipe.vision.images.openai_images import OpenAIImageGenerator
from vidpipe.vision.images.sdwebui import SDWebUIGenerator

__all__ = ["get_image_generator"]


_COMMON_KWARGS = frozenset({"width", "height", "llm", "source_video"})


def _construct(cls: type, args: tuple, kwargs: dict[str, Any]) -> Any:
    """``cls(*args, **kwargs)`` without the common kwargs ``cls`` does not take."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    accepted = {k: v for k, v in kwargs.items() if k in params or k not in _COMMON_KWARGS}
    return cls(*args, **accepted)


def get_image_generator(spec: str | None = "cards", **kwargs: Any) -> ImageGenerator:
    """The image generator a spec string names.

    Specs: ``cards`` (default, also for ``None``/empty), ``folder:DIR``, ``frames`` (with
    ``source_video=``; ``frames:VIDEO`` also works), ``sdwebui`` (``sdwebui:URL`` also
    works), ``openai``. Keyword arguments go to the generator's constructor; the
    common ones (``width``, ``height``, ``llm``, ``source_video``) are dropped for
    generators that do not use them, so a caller can pass them all.

    Returns:
        A :class:`CardGenerator`, :class:`FolderImages`, :class:`FrameImages`,
        :class:`SDWebUIGenerator` or :class:`OpenAIImageGenerator`.

    Raises:
        UsageError: unknown spec, or a missing folder/video argument.
    """
    text = (spec or "cards").strip()
    kind, _sep, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind == "cards" and not arg:
        return _construct(CardGenerator, (), kwargs)
    if kind == "folder":
        if not arg:
            raise UsageError("the folder image source needs a folder", "use folder:DIR")
        return _construct(FolderImages, (arg,), kwargs)
    if kind == "frames":
        video = arg or kwargs.pop("source_video", None)
        kwargs.pop("source_video", None)
        if not video:
            raise UsageError(
                "the frames image source needs the source video",
                "narrate a video file, or choose --images cards",
            )
        return _construct(FrameImages, (video,), kwargs)
    if kind == "sdwebui":
        if arg:
            kwargs.setdefault("base_url", arg)
        return _construct(SDWebUIGenerator, (), kwargs)
    if kind == "openai" and not arg:
        return _construct(OpenAIImageGenerator, (), kwargs)
    raise UsageError(f"unknown image source '{text}'", f"use one of: {', '.join(GENERATOR_SPECS)}")
