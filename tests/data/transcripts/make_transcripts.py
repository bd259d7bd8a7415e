"""Regenerate the cached transcripts used by tests/test_text.py and tests/test_subtitles.py.

Each JSON is a vidpipe Transcript made by ``vidpipe.transcribe`` from audio shipped in
``tests/data`` (see ``tests/data/SOURCES.md``); several clips of one language are
concatenated end to end (times shifted by the previous clips' durations, segments
renumbered) to make one longer transcript. ``speech_bunny_tiny.en.json`` is the example
video alone, with word timestamps (the subtitle tests' pinned model output). Run::

    python tests/data/transcripts/make_transcripts.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from vidpipe.speech.transcribe import transcribe
from vidpipe.types import Segment, Transcript

DATA = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent
EXAMPLE = DATA.parents[1] / "examples" / "speech_bunny.mp4"

SETS = {
    "en_dev_tiny.en.json": ("tiny.en", "en", sorted((DATA / "en_dev").glob("*.wav"))),
    "zh_base.json": ("base", "zh", sorted((DATA / "zh").glob("*.wav"))),
    "ru_base.json": ("base", "ru", sorted((DATA / "ru").glob("*.wav"))),
    "gb0_tiny.en.json": (
        "tiny.en",
        "en",
        [DATA / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"],
    ),
}


def concat(model: str, language: str, files: list[Path]) -> Transcript:
    segments: list[Segment] = []
    offset = 0.0
    for f in files:
        tr = transcribe(f, model=model, language=language)
        for s in tr.segments:
            segments.append(
                Segment(
                    id=len(segments),
                    start=round(offset + s.start, 3),
                    end=round(offset + s.end, 3),
                    text=s.text,
                )
            )
        offset += tr.duration
    return Transcript(
        language=language,
        duration=round(offset, 3),
        segments=segments,
        model=model,
        engine="faster-whisper",
        source=", ".join(f"tests/data/{f.parent.name}/{f.name}" for f in files),
    )


WITH_WORDS = {"speech_bunny_tiny.en.json": ("tiny.en", EXAMPLE)}


if __name__ == "__main__":
    wanted = sys.argv[1:] or [*SETS, *WITH_WORDS]
    for name in wanted:
        if name in WITH_WORDS:
            model, path = WITH_WORDS[name]
            tr = transcribe(path, model=model, word_timestamps=True)
            tr.source = f"examples/{path.name}"
        else:
            model, lang, files = SETS[name]
            tr = concat(model, lang, files)
        (OUT / name).write_text(tr.model_dump_json(indent=1), encoding="utf-8")
        print(name, len(tr.segments), "segments", tr.duration, "s")
