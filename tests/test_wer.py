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


EN_LONG = Path(__file__).parent / "data" / "en_long"


def _long_reference() -> str:
    raw = (EN_LONG / "gb0_reference.txt").read_text(encoding="utf-8")
    # '#' lines are provenance notes; {{...}} marks words completed from the audio
    lines = [ln for ln in raw.splitlines() if not ln.lstrip().startswith("#")]
    return " ".join(lines).replace("{{", "").replace("}}", "")


OPTIONS = TranscribeOptions(language="en", sentence_segments=False)


@pytest.fixture(scope="module")
def engine():
    return FasterWhisperEngine("base")


@pytest.fixture(scope="module")
def bare(engine):
    """Bare faster-whisper's batched pipeline, beam 5, the same options: ``bare(path)``.

    The ``WhisperModel`` is the one ``engine`` loaded (the same folder, device, compute
    type and threads as built here before: no second load of the same weights)."""
    model = engine.model
    assert isinstance(model, WhisperModel)
    assert (engine.model_dir, engine.device, engine.compute_type, engine.threads) == (
        resolve_model("base"), "cpu", "int8", default_threads()
    )  # fmt: skip
    pipeline = BatchedInferencePipeline(model=model)
    kwargs = whisper_kwargs(OPTIONS)
    kwargs.pop("condition_on_previous_text")

    def run(path: Path) -> str:
        segments, _ = pipeline.transcribe(str(path), batch_size=OPTIONS.batch_size, **kwargs)
        return " ".join(s.text.strip() for s in segments)

    return run


@pytest.fixture(scope="module")
def bare_en_dev(bare) -> list[str]:
    return [bare(EN_DEV / f) for f in sorted(_references())]


@pytest.mark.slow
def test_wer_matches_bare_faster_whisper(engine, bare_en_dev):
    refs = _references()
    files = sorted(refs)
    assert len(files) == 32
    ours = [vidpipe.transcribe(EN_DEV / f, engine=engine, language="en").text for f in files]
    wer_ours = _wer([refs[f] for f in files], ours)
    wer_bare = _wer([refs[f] for f in files], bare_en_dev)
    print(f"\nen_dev WER: vidpipe {wer_ours:.4f}, bare faster-whisper {wer_bare:.4f}")
    assert wer_ours < 0.10
    # vidpipe (VAD chunks split into sentences) against bare batched decoding: measured
    # 4.59 % vs 4.06 % on this machine's CPU (3 words of 567; identical on every run, and
    # 0.5 points apart or less on the machines before it); a regression of a point fails.
    assert wer_ours <= wer_bare + 0.01


@pytest.mark.slow
def test_packed_wer_is_within_half_a_point_of_bare(engine, bare_en_dev):
    # the 32 clips as one batch (they share windows): language detected per file
    refs = _references()
    files = sorted(refs)
    packed = vidpipe.transcribe_many([EN_DEV / f for f in files], engine=engine)
    assert [t.language for t in packed] == ["en"] * 32
    wer_packed = _wer([refs[f] for f in files], [t.text for t in packed])
    wer_bare = _wer([refs[f] for f in files], bare_en_dev)
    print(f"\nen_dev WER: vidpipe packed {wer_packed:.4f}, bare faster-whisper {wer_bare:.4f}")
    assert wer_packed <= wer_bare + 0.005


@pytest.mark.slow
def test_long_form_wer_is_within_half_a_point_of_bare(engine, bare):
    wav = EN_LONG / "bush_radio_address_2008-11-01_gb0.wav"
    ref = _long_reference()
    ticks: list[float] = []  # the progress path (CLI bars, job rows): per decoded window
    ours = vidpipe.transcribe(wav, engine=engine, progress=lambda d, t: ticks.append(d / t)).text
    middle = sorted({f for f in ticks if 0.0 < f < 1.0})
    assert len(middle) >= 5 and ticks[-1] == 1.0, middle  # 2:07: five 30 s windows
    wer_ours, wer_bare = _wer([ref], [ours]), _wer([ref], [bare(wav)])
    print(f"\nen_long WER: vidpipe {wer_ours:.4f}, bare faster-whisper {wer_bare:.4f}")
    assert wer_ours < 0.06
    assert wer_ours <= wer_bare + 0.005
