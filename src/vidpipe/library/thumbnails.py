"""Preview pictures of catalog items for the web page: a keyframe or a waveform.

A video item's preview is the frame shown at a fifth of its duration (at most 60 s
in; the first frames of films are often black), scaled to ``width`` pixels wide; an
audio item's is its waveform (:func:`vidpipe.media.waveform.waveform_image`) in the
title cards' colours. Previews are JPEG files cached by content (the media item's
sha256 and the width), written atomically; they are made once and read afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import MediaError, NotFoundError
from vidpipe.library.catalog import Catalog

__all__ = ["THUMB_WIDTH", "thumbnail"]

#: default preview width in pixels (16:9 height for waveforms)
THUMB_WIDTH = 320
#: where in a video the preview frame is taken: this fraction of the duration ...
FRAME_AT = 0.2
#: ... but no later than this many seconds
FRAME_AT_MAX = 60.0


def _frame(path: Path, duration: float | None, width: int):
    from PIL import Image

    from vidpipe.vision.keyframes import read_frames

    t = min((duration or 5.0) * FRAME_AT, FRAME_AT_MAX)
    img = read_frames(path, [t])[0]
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def _waveform(path: Path, width: int):
    from vidpipe.media.audio import decode_audio
    from vidpipe.media.waveform import waveform_image

    audio = decode_audio(path, sample_rate=8000)  # the envelope needs no more
    return waveform_image(audio, width, round(width * 9 / 16))


def thumbnail(
    catalog: Catalog,
    media_id: int,
    cache_dir: str | os.PathLike[str],
    width: int = THUMB_WIDTH,
) -> Path:
    """The preview JPEG of media item ``media_id``, made on first use.

    Args:
        catalog: the open catalog.
        media_id: a media item id.
        cache_dir: folder of the cached previews (created when missing).
        width: preview width in pixels (16..1920).

    Returns:
        Path of the JPEG (``<cache_dir>/<sha256[:24]>-<width>.jpg``).

    Raises:
        NotFoundError: no such item, or its file is gone.
        MediaError: neither a picture nor audio decodes.
    """
    from vidpipe.vision.keyframes import save_jpeg

    width = max(16, min(1920, int(width)))
    media = catalog.get_media(int(media_id))
    if media is None:
        raise NotFoundError(f"no item {media_id}", "see the library for item ids")
    dest = Path(cache_dir) / f"{media.sha256[:24]}-{width}.jpg"
    if dest.is_file():
        return dest
    path = Path(media.path)
    if not path.is_file():
        raise NotFoundError(f"the file of item {media_id} is gone: {path}", "ingest it again")
    img = None
    if media.video_codec or media.audio_codec is None:
        try:
            img = _frame(path, media.duration, width)
        except MediaError:
            img = None  # no picture (audio only, cover art): draw the sound
    if img is None:
        img = _waveform(path, width)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return save_jpeg(img, dest, quality=82)
