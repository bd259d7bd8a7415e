"""Complete Chinese transcripts with Chinese punctuation (issue 18).

A long Mandarin recording is built here from the two referenced clips of
``tests/data/zh`` (AISHELL and PaddleSpeech, corpus/README text), joined three times
with 0.8 s pauses (31 s): faster-whisper's batched pipeline ends a Mandarin chunk at its
first pause and drops the rest. vidpipe's default must keep the characters and match
bare sequential faster-whisper's CER, measured in the same test, and leave no VAD
speech without words. The punctuation rules are pure functions, tested without a model.
"""

from __future__ import annotations

import re

import jiwer
import numpy as np
import pytest

import vidpipe
from conftest import DATA
from vidpipe.media.audio import decode_audio
from vidpipe.speech import packing
from vidpipe.text.script import (
    CLAUSE_PAUSE,
    SENTENCE_PAUSE,
    fullwidth_punctuation,
    punctuate_segments,
    to_script,
    transcript_to_script,
)
from vidpipe.text.sentences import word_ends
from vidpipe.types import Segment, Transcript, Word

CLIPS = {
    "aishell_BAC009S0724W0121.wav": "广州市房地产中介协会分析",
    "paddlespeech_zh.wav": "我认为跑步最重要的就是给我带来了身体健康",
}
HAN = r"\u3040-\u30ff\u3400-\u9fff"
ASCII_IN_CJK = re.compile(rf"[{HAN}]\s*[,.?!:;]|[,.?!:;]\s*[{HAN}]")
MARKS = re.compile(r"[\s，。？！：；、,.?!:;]")


def chars(text: str) -> str:
    """Han characters only, Simplified (what CER is measured on)."""
    return to_script(MARKS.sub("", text), "simplified")


def cer(ref: str, hyp: str) -> float:
    return jiwer.cer(chars(ref), chars(hyp))


# --------------------------------------------------------------------------- rules


def test_ascii_marks_in_cjk_text_become_full_width():
    assert fullwidth_punctuation("我想问, 我在滨海新区有房") == "我想问，我在滨海新区有房"
    assert fullwidth_punctuation("广州市 房地产 中介协会分析") == "广州市，房地产，中介协会分析"
    assert fullwidth_punctuation("版本3.5很好. 对吗?") == "版本3.5很好。对吗？"
    assert fullwidth_punctuation("AI, 我们") == "AI，我们"
    assert fullwidth_punctuation("Hello, world. 3.5") == "Hello, world. 3.5"  # not CJK
    assert fullwidth_punctuation(", 比我还好", before="能够做的") == "，比我还好"  # in context


def _w(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=text, probability=0.9)


def test_pauses_give_sentence_ends_and_commas_only_between_words():
    seg = Segment(
        id=0,
        start=0.0,
        end=3.0,
        text="我认为跑步最重要的就是给我",
        words=[
            _w("我", 0.0, 0.2),
            _w("认", 0.2, 0.4),
            _w("为", 0.4 + SENTENCE_PAUSE + 0.1, 1.1),  # a pause inside 认为: no mark
            _w("跑步", 1.1, 1.6),
            _w("最重要的就是", 1.6, 2.4),
            _w("给我", 2.4 + CLAUSE_PAUSE + 0.05, 3.0),  # a short pause: a comma
        ],
    )
    question = Segment(id=1, start=3.1, end=4.0, text="你好吗")  # 0.1 s later
    last = Segment(id=2, start=5.0, end=6.0, text="广州市 房地产")
    a, b, c = punctuate_segments([seg, question, last], "zh")
    assert [w.word for w in a.words] == ["我", "认", "为", "跑步", "最重要的就是，", "给我，"]
    assert a.text == "".join(w.word for w in a.words)
    assert b.text == "你好吗？"  # 0.9 s before the next: a sentence end, a question
    assert c.text == "广州市，房地产。"  # the last segment ends a sentence
    again = punctuate_segments([a, b, c], "zh")
    assert all(x is y for x, y in zip(again, [a, b, c], strict=True))  # idempotent
    english = Segment(id=0, start=0, end=1, text="hello, world")
    assert punctuate_segments([english], "en")[0] is english


def test_transcript_to_script_punctuates_japanese_but_converts_only_chinese():
    ja = Transcript(language="ja", segments=[Segment(id=0, start=0, end=1, text="東京, 大阪")])
    out = transcript_to_script(ja, "simplified")
    assert out.segments[0].text == "東京，大阪。"  # kanji kept as written
    assert transcript_to_script(out, "simplified") is out


def test_word_ends_follow_jieba_words():
    text = "我认为跑步最重要的就是给我带来了身体健康"
    ends = word_ends(text)
    assert text.index("认为") + 1 not in ends  # never inside 认为
    assert {0, len(text), text.index("跑步")} <= ends
    assert word_ends("so far") == {0, 2, 3, 6}


# --------------------------------------------------------------------------- real speech


@pytest.fixture(scope="module")
def long_mandarin():
    pause = np.zeros(int(0.8 * 16000), np.float32)
    parts, ref = [], []
    for _ in range(3):
        for name, text in CLIPS.items():
            parts += [decode_audio(DATA / "zh" / name), pause]
            ref.append(text)
    return np.concatenate(parts[:-1]), "".join(ref)


@pytest.mark.slow
def test_long_mandarin_is_complete_and_punctuated(long_mandarin):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from vidpipe.speech.whisper import FasterWhisperEngine

    audio, ref = long_mandarin
    engine = FasterWhisperEngine("base")
    tr = transcript_to_script(
        engine.transcribe(audio, vidpipe.speech.engine.TranscribeOptions(word_timestamps=True)),
        "simplified",
    )
    bare, _ = engine.model.transcribe(audio, beam_size=5, vad_filter=True)
    bare_text = "".join(s.text for s in bare)
    ours, theirs = cer(ref, tr.text), cer(ref, bare_text)
    print(f"\nvidpipe: {tr.text}\nbare sequential: {bare_text}")
    print(f"CER vidpipe {ours:.3f}, bare sequential {theirs:.3f}; reference {len(ref)} chars")
    assert tr.language == "zh"
    assert len(chars(tr.text)) >= 0.9 * len(ref)
    assert ours <= theirs + 0.05
    speech = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=160))
    times = [(w.start, w.end) for w in tr.words]
    assert packing.uncovered_speech(speech, times) <= packing.UNCOVERED_SECONDS
    # Chinese punctuation, no ASCII marks, no segment cut inside a word
    assert not ASCII_IN_CJK.search(tr.text), tr.text
    assert all(s.text[-1] in "，。？！" for s in tr.segments), [s.text for s in tr.segments]
    assert tr.segments[-1].text[-1] in "。？！"
    for a, b in zip(tr.segments, tr.segments[1:], strict=False):
        joined = MARKS.sub("", a.text) + MARKS.sub("", b.text)
        assert len(MARKS.sub("", a.text)) in word_ends(joined), (a.text, b.text)


def test_transcript_text_joins_chinese_segments_without_spaces():
    from vidpipe.types import Segment, Transcript

    segs = ["广州市房地产中介协会分析。", " 我想问，", "Hello world.", " Again."]
    t = Transcript(segments=[Segment(id=i, start=i, end=i + 1, text=x) for i, x in enumerate(segs)])
    assert t.text == "广州市房地产中介协会分析。我想问， Hello world. Again."
