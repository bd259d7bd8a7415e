"""WER on LJSpeech (en_dev): vidpipe vs bare faster-whisper, same model and options, same run."""

from __future__ import annotations

import csv
from pathlib import Path

import jiwer
import pytest
from faster_whisper import BatchedInferencePipeline, WhisperModel
from whisper_normalizer.english import EnglishTextNormalizer

import vidpipe
from vidpipe.config import default_threads
from vidpipe.speech.engine import TranscribeOptions
from vidpipe.speech.models import resolve_model
from vidpipe.speech.whisper import FasterWhisperEngine, whisper_kwargs

EN_DEV = Path(__file__).parent / "data" / "en_dev"
normalize = EnglishTextNormalizer()


def _references() -> dict[str, str]:
    with open(EN_DEV / "transcripts.tsv", encoding="utf-8") as fh:
        return {row["file"]: row["transcript"] for row in csv.DictReader(fh, delimiter="\t")}


def _plain(text: str) -> str:
    # Whisper's English normalizer deletes everything inside parentheses (it treats
    # them as annotations such as "(laughs)"); in LJSpeech they are ordinary
    # punctuation around spoken words (LJ001-0024), so keep the words.
    return text.replace("(", " ").replace(")", " ")


def _wer(refs: list[str], hyps: list[str]) -> float:
    return jiwer.wer([normalize(_plain(r)) for r in refs], [normalize(_plain(h)) for h in hyps])


@pytest.mark.slow
def test_wer_matches_bare_faster_whisper():
    refs = _references()
    files = sorted(refs)
    assert len(files) == 32
    options = TranscribeOptions(language="en", sentence_segments=False)
    engine = FasterWhisperEngine("base")
    ours = [vidpipe.transcribe(EN_DEV / f, engine=engine, language="en").text for f in files]

    bare_model = WhisperModel(
        str(resolve_model("base")), device="cpu", compute_type="int8", cpu_threads=default_threads()
    )
    pipeline = BatchedInferencePipeline(model=bare_model)
    kwargs = whisper_kwargs(options)
    kwargs.pop("condition_on_previous_text")
    bare = []
    for f in files:
        segments, _ = pipeline.transcribe(str(EN_DEV / f), batch_size=options.batch_size, **kwargs)
        bare.append(" ".join(s.text.strip() for s in segments))

    wer_ours = _wer([refs[f] for f in files], ours)
    wer_bare = _wer([refs[f] for f in files], bare)
    print(f"\nen_dev WER: vidpipe {wer_ours:.4f}, bare faster-whisper {wer_bare:.4f}")
    assert wer_ours < 0.10
    assert abs(wer_ours - wer_bare) <= 0.005
