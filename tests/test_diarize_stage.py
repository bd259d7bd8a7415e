"""The ``diarize`` stage and the speaker options of the command line, on real recordings.

``vidpipe diarize`` writes RTTM and JSON (a three-voice clip, a one-speaker speech,
silence, music); ``vidpipe transcribe --diarize`` shows the speakers in every format,
each parsed back with its own library (``srt``, ``webvtt-py``, ``pysubs2``); the stage
runs as a job on a JobStore; a missing extra is one line naming the fix. The writers'
speaker markup itself (no models) is in the last tests.

The tests that run the models skip without the ``diarize`` extra; the command-line
runs are real processes, each run once per module (30 s clips at most).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pysubs2
import pytest

from conftest import DATA
from vidpipe.errors import ModelError
from vidpipe.speakers import SpeakerTurn, der_components, read_rttm, turns_from_json
from vidpipe.types import Segment, Transcript, Word

DEV = DATA / "diarization"
FALCON = DEV / "falcon_test.wav"  # 18.6 s, three voices one after another
JFK = DATA / "jfk.flac"  # 11 s, one speaker
SILENCE = DATA / "broken" / "pisets_test_silence.wav"  # 10 s, no speech (a click)
MUSIC = DATA / "video" / "moviepy_chaplin.mp4"  # 9.6 s of film music, no speech
NO_AUDIO = DATA / "video" / "moviepy_example.mp4"  # video only
SRC = Path(__file__).resolve().parents[1] / "src"
LABEL = re.compile(r"^SPEAKER_\d\d$")


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m vidpipe ARGS`` in a real process (this checkout's code first)."""
    base = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    base["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), base.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=base | (env or {}),
    )


def one_error_line(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def models():
    """The diarization models, loaded once (skip without the extra)."""
    try:
        from vidpipe.pipeline.stages.diarize import load_models

        load_models()
    except ModelError as exc:
        pytest.skip(f"diarization models unavailable: {exc.one_line()}")


@pytest.fixture(scope="module")
def diarized(models, tmp_path_factory):
    """``vidpipe diarize`` on the three-voice clip, JFK, silence and music: one run."""
    out = tmp_path_factory.mktemp("diarize")
    proc = run("diarize", str(FALCON), str(JFK), str(SILENCE), str(MUSIC), "-o", str(out))
    return proc, out


@pytest.fixture(scope="module")
def transcribed(models, tmp_path_factory):
    """``vidpipe transcribe --diarize -f all`` on the three-voice clip, JFK and music."""
    out = tmp_path_factory.mktemp("transcribe")
    proc = run(
        "transcribe", "--diarize", "-m", "tiny.en", "-f", "all",
        str(FALCON), str(JFK), str(MUSIC), "-o", str(out),
    )  # fmt: skip
    return proc, out


# --------------------------------------------------------------------------- vidpipe diarize


def test_diarize_writes_rttm_and_json_for_real_recordings(diarized):
    from vidpipe.media.audio import decode_audio
    from vidpipe.speakers import diarize

    proc, out = diarized
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for stem in ("falcon_test", "jfk", "pisets_test_silence", "moviepy_chaplin"):
        assert (out / f"{stem}.rttm").is_file() and (out / f"{stem}.json").is_file()
    # the three-voice clip: standard RTTM lines, the JSON says the same
    rttm_text = (out / "falcon_test.rttm").read_text()
    for line in rttm_text.splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[1] == "falcon_test" and f[2] == "1"
        assert f[5] == f[6] == f[8] == f[9] == "<NA>" and LABEL.match(f[7])
    turns = read_rttm(out / "falcon_test.rttm")["falcon_test"]
    doc = json.loads((out / "falcon_test.json").read_text())
    assert doc["file"] == "falcon_test" and doc["duration"] == pytest.approx(18.58, abs=0.05)
    assert turns_from_json((out / "falcon_test.json").read_text()) == turns
    assert doc["speakers"] == sorted({t.speaker for t in turns})
    # right against the reference: three speakers, DER far below one speaker for all
    ref = read_rttm(FALCON.with_suffix(".rttm"))["falcon_test"]
    uem = (0.0, doc["duration"])
    assert len(doc["speakers"]) == len({t.speaker for t in ref}) == 3
    der = der_components(ref, turns, uem=uem).der
    one = der_components(ref, [SpeakerTurn(start=0, end=uem[1], speaker="A")], uem=uem).der
    assert der < 0.25 and der < one / 3
    # the command gives what the building block gives on the same audio
    direct = diarize(decode_audio(FALCON)).turns
    assert der_components(direct, turns, uem=uem).der < 0.01
    # the summary line per file
    assert "falcon_test.wav: " in proc.stderr and "3 speakers" in proc.stderr


def test_one_speaker_gives_one_speaker(diarized):
    _, out = diarized
    turns = read_rttm(out / "jfk.rttm")["jfk"]
    assert {t.speaker for t in turns} == {"SPEAKER_00"}
    assert sum(t.end - t.start for t in turns) > 6  # most of the 11 s is speech


def test_silence_and_music_give_no_turns(diarized):
    proc, out = diarized
    for stem in ("pisets_test_silence", "moviepy_chaplin"):
        assert (out / f"{stem}.rttm").read_text() == ""
        doc = json.loads((out / f"{stem}.json").read_text())
        assert doc["turns"] == [] and doc["speakers"] == [] and doc["duration"] > 9
    assert proc.stderr.count("no speech") == 2


def test_diarize_bad_input_is_one_line(models, tmp_path):
    err = one_error_line(run("diarize", str(NO_AUDIO), "-o", str(tmp_path)), 4)
    assert "no audio stream" in err
    assert list(tmp_path.iterdir()) == []


def test_speaker_count_options_are_checked_before_any_work(tmp_path):
    err = one_error_line(
        run("diarize", str(JFK), "--min-speakers", "3", "--max-speakers", "2", "-o", str(tmp_path)),
        2,
    )
    assert "min_speakers (3) is above max_speakers (2)" in err
    err = one_error_line(run("diarize", str(JFK), "-f", "ctm", "-o", str(tmp_path)), 2)
    assert "unknown output format 'ctm'" in err
    proc = run("transcribe", str(JFK), "--num-speakers", "2", "-o", str(tmp_path))
    assert "need --diarize" in one_error_line(proc, 2)
    assert run("diarize", str(JFK), "--num-speakers", "0").returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_missing_extra_is_one_line_naming_it(tmp_path):
    # torch made unimportable, as on an install without the extra
    fake = tmp_path / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    env = {"PYTHONPATH": os.pathsep.join((str(fake), str(SRC), os.environ.get("PYTHONPATH", "")))}
    for args in (
        ("diarize", str(JFK), "-o", str(tmp_path / "out")),
        ("transcribe", "--diarize", "-m", "tiny.en", str(JFK), "-o", str(tmp_path / "out")),
    ):
        err = one_error_line(run(*args, env=env), 5)
        assert "'diarize' extra" in err and 'pip install "vidpipe[diarize]"' in err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- transcribe --diarize


def test_transcribe_diarize_labels_every_format(transcribed, diarized):
    import srt
    import webvtt

    proc, out = transcribed
    assert proc.returncode == 0, proc.stderr
    stem = "falcon_test"
    turns = read_rttm(diarized[1] / f"{stem}.rttm")[stem]
    # JSON: speakers on segments and words, the speakers list, word times kept
    doc = json.loads((out / f"{stem}.json").read_text())
    speakers = doc["speakers"]
    assert len(speakers) == 3 and all(LABEL.match(s) for s in speakers)
    assert set(speakers) == {t.speaker for t in turns}  # the same diarization
    segs = doc["segments"]
    assert all(s["speaker"] in speakers for s in segs)
    assert segs[0]["speaker"] == speakers[0]
    for s in segs:
        assert s["words"] and all(
            w.get("speaker", s["speaker"]) == s["speaker"] for w in s["words"]
        )
        for w in s["words"]:
            if "speaker" in w:  # the speaker whose turns cover it, or the nearest within 1 s
                near = [
                    t for t in turns
                    if t.speaker == w["speaker"]
                    and t.start - 1 <= w["end"] and w["start"] <= t.end + 1
                ]  # fmt: skip
                assert near, w
    seen = [s["speaker"] for s in segs]
    changes = [sp for k, sp in enumerate(seen) if k == 0 or sp != seen[k - 1]]
    # TXT: "SPEAKER_nn: " exactly at each change
    txt = (out / f"{stem}.txt").read_text().splitlines()
    assert [ln.split(": ", 1)[0] for ln in txt if LABEL.match(ln.split(": ", 1)[0])] == changes
    # SRT (srt library): "[SPEAKER_nn] " at each change, first lines still fit 42 columns
    subs = list(srt.parse((out / f"{stem}.srt").read_text()))
    got = [m.group(1) for c in subs if (m := re.match(r"\[(SPEAKER_\d\d)\] ", c.content))]
    assert got == changes
    assert all(len(line) <= 42 for c in subs for line in c.content.splitlines())
    # VTT (webvtt-py): a voice span on every cue
    captions = webvtt.read(str(out / f"{stem}.vtt")).captions
    voices = [c.voice for c in captions]
    assert all(v in speakers for v in voices)
    assert [v for k, v in enumerate(voices) if k == 0 or v != voices[k - 1]] == changes
    assert "<v" not in captions[0].text  # the tag is markup, not text
    # ASS (pysubs2): the prefix at each change, the speaker in every event's Name
    ass = pysubs2.load(str(out / f"{stem}.ass"))
    assert all(ev.name in speakers for ev in ass)
    got = [m.group(1) for ev in ass if (m := re.match(r"\[(SPEAKER_\d\d)\] ", ev.plaintext))]
    assert got == changes
    # TSV: a speaker column
    rows = (out / f"{stem}.tsv").read_text().splitlines()
    assert rows[0] == "start\tend\tspeaker\ttext"
    assert [r.split("\t")[2] for r in rows[1:]] == seen
    # the screen shows them too
    assert re.search(r"\] SPEAKER_00: ", proc.stdout)


def test_transcribe_diarize_one_speaker_and_music(transcribed):
    _, out = transcribed
    doc = json.loads((out / "jfk.json").read_text())
    assert doc["speakers"] == ["SPEAKER_00"]
    assert {s["speaker"] for s in doc["segments"]} == {"SPEAKER_00"}
    assert "ask not what your country" in (out / "jfk.txt").read_text().lower()
    assert (out / "jfk.txt").read_text().startswith("SPEAKER_00: ")
    assert len(re.findall(r"SPEAKER_00", (out / "jfk.txt").read_text())) == 1
    # music: no turns, so no speaker anywhere, and no crash
    music = json.loads((out / "moviepy_chaplin.json").read_text())
    assert music["speakers"] == []
    assert all("speaker" not in s for s in music["segments"])


def test_without_diarize_outputs_have_no_speakers(models, tmp_path):
    proc = run("transcribe", "-m", "tiny.en", "-f", "all", str(JFK), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "jfk.json").read_text())
    assert "speakers" not in doc and all("speaker" not in s for s in doc["segments"])
    assert doc["segments"][0]["words"] is None  # words only with --word-timestamps
    assert (tmp_path / "jfk.tsv").read_text().startswith("start\tend\ttext\n")
    for ext in ("txt", "srt", "vtt", "ass", "tsv"):
        text = (tmp_path / f"jfk.{ext}").read_text()
        assert "SPEAKER" not in text and "<v " not in text


# --------------------------------------------------------------------------- the stage as a job


@pytest.fixture
def store(tmp_path):
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    s = JobStore(Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"), root=tmp_path / "st")
    yield s
    s.catalog.close()


def test_diarize_job_on_a_job_store(models, store):
    from vidpipe.errors import UsageError
    from vidpipe.pipeline.execute import run_job

    with pytest.raises(UsageError, match=r"invalid diarize params: .*min_speakers \(3\)"):
        store.create("diarize", {"min_speakers": 3, "max_speakers": 2}, input={"path": str(JFK)})
    with pytest.raises(UsageError, match=r"a diarize job needs an input"):
        store.create("diarize", {})
    job = store.create("diarize", {"max_speakers": 3}, input={"path": str(FALCON)})
    done = run_job(store, job.id)
    assert done.status == "succeeded", done.error
    paths = {p.name: p for p in store.artifact_paths(done)}
    assert set(paths) == {"turns.rttm", "turns.json"}
    turns = read_rttm(paths["turns.rttm"])["falcon_test"]
    assert turns_from_json(paths["turns.json"].read_text()) == turns
    r = done.result
    assert r["speakers"] == sorted({t.speaker for t in turns}) and len(r["speakers"]) == 3
    assert r["turns"] == len(turns) and 0 < r["speech"] <= r["duration"]
    assert r["overlap"] >= 0
    mid = r["media_id"]  # the file was recorded in the catalog by content
    assert store.catalog.get_media(mid).path.endswith("falcon_test.wav")

    # an audio job's file, and a file without speech or without audio
    audio = store.create("audio", {"format": "wav"}, input={"path": str(JFK)})
    on_audio = store.create("diarize", {}, depends_on=[audio.id])
    music = store.create("diarize", {}, input={"path": str(MUSIC)})
    silent_video = store.create("diarize", {}, input={"path": str(NO_AUDIO)})
    assert run_job(store, audio.id).status == "succeeded"
    d = run_job(store, on_audio.id)
    assert d.status == "succeeded", d.error
    assert d.result["speakers"] == ["SPEAKER_00"]
    m = run_job(store, music.id)
    assert m.status == "succeeded", m.error
    assert m.result["turns"] == 0 and m.result["speakers"] == []
    s = run_job(store, silent_video.id)
    assert s.status == "succeeded" and s.result.get("skipped") == "no audio track"


# --------------------------------------------------------------------------- writers (no models)


def _transcript() -> Transcript:
    def seg(i, start, end, text, who):
        words, t = [], start
        for k, w in enumerate(text.split()):
            words.append(Word(start=t, end=t + 0.4, word=(" " if k else "") + w, speaker=who))
            t += 0.5
        return Segment(id=i, start=start, end=end, text=text, words=words, speaker=who)

    return Transcript(
        segments=[
            seg(0, 0.0, 2.0, "Hello there.", "SPEAKER_00"),
            seg(1, 2.0, 4.0, "Still me talking here.", "SPEAKER_00"),
            seg(2, 4.0, 5.0, "Hm.", None),
            seg(3, 5.0, 11.0, "And now somebody else speaks for quite a while longer.", "Ann Lee"),
            seg(4, 11.0, 12.0, "Back.", "SPEAKER_00"),
        ],
        speakers=["SPEAKER_00", "Ann Lee"],
    )


def test_writers_show_speakers_at_each_change():
    import srt
    import webvtt

    from vidpipe.media.subtitles import CueOptions
    from vidpipe.writers import WRITERS, speaker_changes

    tr = _transcript()
    assert speaker_changes(tr.segments) == ["SPEAKER_00", None, None, "Ann Lee", "SPEAKER_00"]
    txt = WRITERS["txt"]().render(tr).splitlines()
    assert txt == [
        "SPEAKER_00: Hello there.",
        "Still me talking here.",
        "Hm.",
        "Ann Lee: And now somebody else speaks for quite a while longer.",
        "SPEAKER_00: Back.",
    ]
    cues = CueOptions(max_line_width=20, max_line_count=2)
    subs = list(srt.parse(WRITERS["srt"](cues).render(tr)))
    heads = [c.content for c in subs]
    assert heads[0].startswith("[SPEAKER_00] Hello")
    assert sum(h.startswith("[Ann Lee] ") for h in heads) == 1
    assert heads[-1] == "[SPEAKER_00] Back."
    assert all(len(line) <= 20 for h in heads for line in h.splitlines())  # label included
    # the label never stands alone, and the cue text without labels is the transcript's
    assert all(re.sub(r"^\[[^\]]+\] ", "", h).strip() for h in heads)
    flat = " ".join(re.sub(r"^\[[^\]]+\] ", "", h).replace("\n", " ") for h in heads)
    assert flat == " ".join(s.text for s in tr.segments)
    captions = webvtt.from_buffer(io.StringIO(WRITERS["vtt"](cues).render(tr))).captions
    assert captions[0].voice == "SPEAKER_00"
    assert None in [c.voice for c in captions]  # the segment without a speaker
    assert "Ann Lee" in [c.voice for c in captions]
    ass = pysubs2.SSAFile.from_string(WRITERS["ass"](cues).render(tr))
    assert ass[0].name == "SPEAKER_00" and ass[-1].name == "SPEAKER_00"
    assert ass[-1].plaintext == "[SPEAKER_00] Back."
    tsv = WRITERS["tsv"]().render(tr).splitlines()
    assert tsv[0] == "start\tend\tspeaker\ttext" and tsv[3] == "4000\t5000\t\tHm."
    doc = json.loads(WRITERS["json"]().render(tr))
    assert doc["speakers"] == ["SPEAKER_00", "Ann Lee"]
    assert doc["segments"][3]["words"][0]["speaker"] == "Ann Lee"
    assert "speaker" not in doc["segments"][2]


def test_writers_without_speakers_are_unchanged():
    from vidpipe.writers import WRITERS

    tr = _transcript()
    plain = Transcript(
        segments=[
            s.model_copy(
                update={
                    "speaker": None,
                    "words": [w.model_copy(update={"speaker": None}) for w in s.words],
                }
            )
            for s in tr.segments
        ]
    )
    for ext, writer in WRITERS.items():
        text = writer().render(plain)
        assert "SPEAKER" not in text and "Ann Lee" not in text and "<v " not in text, ext
    assert WRITERS["tsv"]().render(plain).startswith("start\tend\ttext\n")
    assert WRITERS["txt"]().render(plain).splitlines()[0] == "Hello there."
