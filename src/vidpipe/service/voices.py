"""Known speakers of one request (OpenAI's ``known_speaker_names[]`` +
``known_speaker_references[]``, data-URL clips) as voiceprints, and the check that the
``diarize`` extra is installed; shared by :mod:`vidpipe.service.openai_api` and
:mod:`vidpipe.service.speakers_api`.

A reference is at most :data:`MAX_REFERENCE_SECONDS` of audio and the service's upload
limit (``max_audio_bytes``) in bytes once decoded; as every multipart text field it is
also at most 1 MiB encoded (Starlette's ``max_part_size``: over it, 400); at most
:data:`MAX_REFERENCES` per request. The whole request body of ``/v1/audio/*``, upload and
references together, stays within the upload limit plus 1 MiB (the service middleware's
:func:`~vidpipe.service.middleware.body_limit`: 413 beyond).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import anyio

from vidpipe.errors import InputError, MediaError, TooLargeError, UsageError

__all__ = ["MAX_REFERENCES", "MAX_REFERENCE_SECONDS", "known_voices", "require_diarization"]

MAX_REFERENCES = 4
"""Known speakers per request (OpenAI documents up to 4)."""
MAX_REFERENCE_SECONDS = 30.0
"""Longest reference clip, in seconds (OpenAI asks for 2-10 s)."""

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*)(;base64)?,", re.I)


async def require_diarization() -> None:
    """Fail the request at once (501 ``NotInstalledError``) when the ``diarize`` extra is
    missing, before any upload is decoded."""
    from vidpipe.pipeline.speakers import require_diarization as check

    await anyio.to_thread.run_sync(check)


def _decode_reference(data_url: str, index: int, folder: Path, limit: int):
    """16 kHz mono samples of one ``data:`` URL clip (written to a temporary file for
    PyAV, removed at once)."""
    from vidpipe.media.audio import decode_audio

    what = f"known_speaker_references[{index}]"
    m = _DATA_URL.match(data_url or "")
    if m is None or not m.group(3):
        raise InputError(
            f"{what} is not a base64 data URL",
            "send data:audio/wav;base64,... (any audio format the file field takes)",
        )
    payload = data_url[m.end() :]
    if len(payload) > (limit * 4) // 3 + 4:
        raise TooLargeError(f"{what} is over the limit of {limit} bytes", "send a shorter clip")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} is not valid base64") from None
    if not raw:
        raise InputError(f"{what} is empty")
    if len(raw) > limit:
        raise TooLargeError(
            f"{what} is {len(raw)} bytes, over the limit of {limit} bytes", "send a shorter clip"
        )
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="voice-", suffix=".bin", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        try:
            audio = decode_audio(name, sample_rate=16000)
        except MediaError as exc:
            raise MediaError(f"{what}: {exc.message}", exc.hint) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    if audio.size / 16000 > MAX_REFERENCE_SECONDS:
        raise InputError(
            f"{what} is {audio.size / 16000:.1f} s long; at most {MAX_REFERENCE_SECONDS:g} s",
            "send 2-10 s of the person speaking alone",
        )
    return audio


def known_voices(
    catalog: Any,
    names: list[str] | None,
    references: list[str] | None,
    folder: Path,
    limit: int,
) -> list:
    """The known voices of one request: a voiceprint per (name, reference clip) pair and
    the catalog's stored voices whose names the request does not give. Runs in a worker
    thread (decoding and the encoder block).

    Raises:
        UsageError: names and references differ in number, or more than
            :data:`MAX_REFERENCES`.
        InputError, TooLargeError, MediaError: a bad name or clip (its index named).
    """
    from vidpipe.library.speakers import check_name, voiceprints
    from vidpipe.pipeline.speakers import voice_from_audio

    names = [n for n in names or [] if n is not None]
    references = [r for r in references or [] if r is not None]
    if len(names) != len(references):
        raise UsageError(
            f"{len(names)} known_speaker_names[] but {len(references)} known_speaker_references[]",
            "give one reference clip per name",
        )
    if len(names) > MAX_REFERENCES:
        raise UsageError(f"at most {MAX_REFERENCES} known speakers, not {len(names)}")
    given = []
    for i, (name, ref) in enumerate(zip(names, references, strict=True)):
        clean = check_name(name, f"known_speaker_names[{i}]")
        audio = _decode_reference(ref, i, folder, limit)
        voice, _ = voice_from_audio(clean, [audio], [f"known_speaker_references[{i}]"])
        given.append(voice)
    taken = {v.name for v in given}
    stored = [v for v in voiceprints(catalog) if v.name not in taken] if catalog else []
    return given + stored
