"""One Chinese script: the real Mandarin samples (tests/data/zh, Whisper ``base``) come back
from Whisper in a mix of Traditional and Simplified characters; vidpipe's output is
Simplified by default, Traditional or untouched on request, for transcripts (segments and
words), summaries, keywords, chapters and topic names. Checked with OpenCC itself."""

from __future__ import annotations

import json
import re

import opencc
import pytest
from typer.testing import CliRunner

from conftest import DATA
from vidpipe.cli import app
from vidpipe.config import reset_settings
from vidpipe.files import sha256_file
from vidpipe.library.catalog import Catalog, options_hash
from vidpipe.library.understanding import TextOptions
from vidpipe.pipeline.runner import RunOptions
from vidpipe.pipeline.stages.chapters import chapters_media
from vidpipe.pipeline.stages.summarize import summarize_media
from vidpipe.text.script import to_script, transcript_to_script
from vidpipe.text.topics import find_topics
from vidpipe.types import Transcript

ZH = sorted((DATA / "zh").glob("*.wav"))
T2S = opencc.OpenCC("t2s")
S2T = opencc.OpenCC("s2t")
HAN = re.compile(r"[\u4e00-\u9fff]")


def simplified(text: str) -> bool:
    return T2S.convert(text) == text


def traditional(text: str) -> bool:
    return S2T.convert(text) == text


def texts(tr: Transcript) -> list[str]:
    return [s.text for s in tr.segments] + [w.word for w in tr.words]


@pytest.fixture(scope="module")
def engine():
    from vidpipe.speech.transcribe import get_engine

    return get_engine("faster-whisper", model="base")


@pytest.fixture(scope="module")
def whisper(engine) -> dict[str, Transcript]:
    """Whisper's own output (``keep``), language detected, with word timestamps."""
    from vidpipe.speech.transcribe import transcribe

    return {
        p.name: transcribe(p, engine=engine, word_timestamps=True, zh_script="keep") for p in ZH
    }


@pytest.fixture(scope="module")
def default(engine) -> dict[str, Transcript]:
    from vidpipe.speech.transcribe import transcribe

    return {p.name: transcribe(p, engine=engine, word_timestamps=True) for p in ZH}


def test_whisper_mixes_scripts(whisper):
    assert all(tr.language == "zh" for tr in whisper.values())  # detected, not given
    mixed = [t for tr in whisper.values() for t in texts(tr) if not simplified(t)]
    assert mixed, "Whisper gave no Traditional characters: the premise of this file changed"


def test_transcripts_are_simplified_by_default(whisper, default):
    for name, tr in default.items():
        raw = whisper[name]
        assert tr.words and all(simplified(t) for t in texts(tr)), texts(tr)
        assert [s.text for s in tr.segments] == [T2S.convert(s.text) for s in raw.segments]
        for seg in tr.segments:
            assert "".join(w.word for w in seg.words) == seg.text
        assert [(w.start, w.end) for w in tr.words] == [(w.start, w.end) for w in raw.words]
    assert any(HAN.search(t) for tr in default.values() for t in texts(tr))


def test_traditional_and_keep(whisper):
    for tr in whisper.values():
        trad = transcript_to_script(tr, "traditional")
        assert [s.text for s in trad.segments] == [S2T.convert(s.text) for s in tr.segments]
        assert all(traditional(t) for t in texts(trad))
        assert transcript_to_script(tr, "keep") is tr
    english = Transcript(language="en", segments=whisper[ZH[0].name].segments)
    assert transcript_to_script(english, "simplified") is english  # only Chinese is converted
    assert to_script("Printing 1450", "traditional") == "Printing 1450"


def test_cli_zh_script_option_and_setting(whisper, tmp_path, monkeypatch):
    wav = ZH[0]
    runner = CliRunner()
    r = runner.invoke(
        app, ["transcribe", str(wav), "-m", "base", "-o", str(tmp_path / "t"), "-f", "json,srt",
                 "-q", "--zh-script", "traditional"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "t" / f"{wav.stem}.json").read_text(encoding="utf-8"))
    raw = whisper[wav.name]
    assert [s["text"] for s in doc["segments"]] == [S2T.convert(s.text) for s in raw.segments]
    srt = (tmp_path / "t" / f"{wav.stem}.srt").read_text(encoding="utf-8")
    assert traditional(srt) and HAN.search(srt)

    monkeypatch.setenv("VIDPIPE_ZH_SCRIPT", "keep")
    reset_settings()
    try:
        r = runner.invoke(
            app, ["transcribe", str(wav), "-m", "base", "-o", str(tmp_path / "k"), "-f", "json",
                     "-q"],
        )  # fmt: skip
    finally:
        monkeypatch.delenv("VIDPIPE_ZH_SCRIPT")
        reset_settings()
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "k" / f"{wav.stem}.json").read_text(encoding="utf-8"))
    assert [s["text"] for s in doc["segments"]] == [s.text for s in raw.segments]


def test_script_is_part_of_the_options_hashes():
    base = options_hash(RunOptions().transcribe_options())
    assert RunOptions().transcribe_options()["zh_script"] == "simplified"
    assert options_hash(RunOptions(zh_script="traditional").transcribe_options()) != base
    assert TextOptions().hash("summary") != TextOptions(zh_script="keep").hash("summary")


@pytest.fixture
def catalog(tmp_path):
    """A real SQLite catalog holding the stored base-model transcript of both zh clips
    (Whisper's Traditional output: 廣州市 佛地產 中間協會分析 ...)."""
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    tr = Transcript.model_validate_json((DATA / "transcripts" / "zh_base.json").read_text("utf-8"))
    assert not all(simplified(s.text) for s in tr.segments)
    media, _ = cat.add_media(ZH[0].resolve(), sha256_file(ZH[0]), ZH[0].stat().st_size)
    cat.save_transcript(media.id, tr, "stored")
    yield cat, media.id
    cat.close()


def test_summaries_keywords_and_chapters_in_one_script(catalog):
    cat, mid = catalog
    summary, computed = summarize_media(cat, mid)
    assert computed and summary.keywords
    found = [summary.overall, *summary.keywords, *(c.summary for c in summary.chunks)]
    assert all(simplified(t) for t in found) and HAN.search(summary.overall), found
    assert summarize_media(cat, mid)[0] == summary  # stored as converted
    trad, computed = summarize_media(cat, mid, options=TextOptions(zh_script="traditional"))
    assert computed and all(traditional(t) for t in [trad.overall, *trad.keywords])
    assert T2S.convert(trad.overall) == summary.overall

    chapters, _ = chapters_media(cat, mid)
    assert chapters and all(simplified(c.title) and HAN.search(c.title) for c in chapters)
    chapters, _ = chapters_media(cat, mid, options=TextOptions(zh_script="traditional"))
    assert all(traditional(c.title) for c in chapters)


def test_topic_names_in_one_script():
    zh = Transcript.model_validate_json((DATA / "transcripts" / "zh_base.json").read_text("utf-8"))
    en = Transcript.model_validate_json(
        (DATA / "transcripts" / "en_dev_tiny.en.json").read_text("utf-8")
    )
    items = [(1, zh.segments[0].text, "zh"), (2, zh.segments[1].text, "zh"), (3, en.text, "en")]
    for script, check in (("simplified", simplified), ("traditional", traditional)):
        topics = find_topics(items, n_topics=2, zh_script=script)
        chinese = [t for t in topics if 1 in t.media_ids]
        assert chinese and HAN.search(chinese[0].name)
        for t in topics:
            assert check(t.name) and all(check(k) for k in t.keywords), (script, t)
        keywords = {k for t in chinese for k in t.keywords}
        assert to_script("中間", script) in keywords, keywords  # one word, one script
    named = find_topics(items, n_topics=2, namer=lambda kw, texts: "廣州房地產")
    assert [t.name for t in named if 1 in t.media_ids] == ["广州房地产"]
