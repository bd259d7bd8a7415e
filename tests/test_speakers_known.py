"""Known voices and speaker names in the catalog, as a user runs them: ``python -m vidpipe
speakers add|list|remove|rename`` on a fresh ``VIDPIPE_HOME``, then ``search``, ``show``
and ``export`` carrying the names.

The dev recordings are the AMI clips of tests/data/diarization: a voiceprint of MEE009
(and MEE012) is made from his reference speech in ES2003a and must name him in ES2003b
(another meeting of the same group, same men); FEE087 of EN2006a is a stranger to
ES2003b and must name nobody (the threshold 0.88 of
:data:`vidpipe.speakers.MATCH_THRESHOLD`).

The item is made in-process as ``transcribe --diarize`` will store it (the bundled
tiny.en with word times, :func:`vidpipe.pipeline.stages.diarize.diarize_transcript`,
:meth:`Catalog.save_transcript`, :func:`save_item_diarization`): ``vidpipe run`` has no
``--diarize`` yet. The tests that run the models are skipped without the ``diarize``
extra; the catalog ones (migration, PostgreSQL) are not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from vidpipe.errors import ModelError

DEV = DATA / "diarization"
SR = 16000

try:
    from vidpipe.pipeline.speakers import require_diarization

    require_diarization()
    _MISSING = None
except ModelError as exc:
    _MISSING = f"diarization models unavailable: {exc.one_line()}"
#: the tests that run the models; the catalog-only ones run without the extra
needs_models = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def vp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        VIDPIPE_HOME=str(home),
        VIDPIPE_DATABASE_URL="",
        COLUMNS="200",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _alone(stem: str, speaker: str) -> np.ndarray:
    """The reference speech of ``speaker`` in ``stem`` where nobody else speaks."""
    from vidpipe.media.audio import decode_audio
    from vidpipe.speakers import read_rttm

    audio = decode_audio(DEV / f"{stem}.wav")
    ref = read_rttm(DEV / f"{stem}.rttm")[stem]
    mask = np.zeros(audio.size, bool)
    for t in ref:
        if t.speaker == speaker:
            mask[int(t.start * SR) : int(t.end * SR)] = True
    for t in ref:
        if t.speaker != speaker:
            mask[int(t.start * SR) : int(t.end * SR)] = False
    return audio[mask]


def write_wav(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Clips of one voice each: MEE009 and MEE012 (ES2003a), FEE087 (EN2006a)."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "MEE009": write_wav(folder / "mee009.wav", _alone("ami_ES2003a_0-30s", "MEE009")),
        "MEE012": write_wav(folder / "mee012.wav", _alone("ami_ES2003a_0-30s", "MEE012")),
        "FEE087": write_wav(folder / "fee087.wav", _alone("ami_EN2006a_0-30s", "FEE087")),
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory, clips) -> Path:
    """A home with the three known voices added by the command line."""
    home = tmp_path_factory.mktemp("home")
    for name in ("MEE009", "MEE012", "FEE087"):
        r = vp(home, "speakers", "add", name, str(clips[name]))
        assert r.returncode == 0, r.stderr
        assert f"known voice '{name}' from 1 clip(s)" in r.stderr
    return home


@needs_models
def test_add_list_remove_voices(home, clips):
    r = vp(home, "speakers", "list", "--json")
    assert r.returncode == 0, r.stderr
    voices = json.loads(r.stdout)
    assert [v["name"] for v in voices] == ["FEE087", "MEE009", "MEE012"]
    assert all(v["clips"] == 1 and v["dim"] == 256 and v["seconds"] > 2 for v in voices)
    table = vp(home, "speakers", "list")
    assert table.returncode == 0 and "MEE012" in table.stdout
    # a name taken: usage error (exit 2) with the way out; --replace replaces
    r = vp(home, "speakers", "add", "MEE012", str(clips["MEE012"]))
    assert r.returncode == 2 and "already known" in r.stderr and "--replace" in r.stderr
    assert "Traceback" not in r.stderr
    r = vp(home, "speakers", "add", "MEE012", str(clips["MEE012"]), "--replace")
    assert r.returncode == 0, r.stderr
    # remove, and removing an unknown voice is one line, exit 3
    tmp = vp(home, "speakers", "add", "Temp", str(clips["FEE087"]))
    assert tmp.returncode == 0, tmp.stderr
    assert vp(home, "speakers", "remove", "Temp").returncode == 0
    r = vp(home, "speakers", "remove", "Temp")
    assert r.returncode == 3 and "no known voice named 'Temp'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@needs_models
def test_bad_clips_are_one_line(home, tmp_path):
    silence = write_wav(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32))
    r = vp(home, "speakers", "add", "Nobody", str(silence))
    assert r.returncode == 3, r.stderr
    assert "holds 0.0 s of speech" in r.stderr and "Traceback" not in r.stderr
    r = vp(home, "speakers", "add", "Nobody", str(tmp_path / "missing.wav"))
    assert r.returncode == 3 and "Traceback" not in r.stderr
    r = vp(home, "speakers", "add", " ", str(silence))
    assert r.returncode == 3 and "cannot be empty" in r.stderr


@pytest.fixture(scope="module")
def item(home):
    """ES2003b transcribed (tiny.en, word times) and diarized with the home's known
    voices, stored as one catalog item. Returns (media id, DiarizedTranscript, sims)."""
    import shutil

    from vidpipe.files import sha256_file
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.speakers import save_item_diarization, voiceprints
    from vidpipe.media.audio import decode_audio
    from vidpipe.pipeline.models import asr_engine
    from vidpipe.pipeline.stages.diarize import diarize_transcript
    from vidpipe.speech.engine import TranscribeOptions

    path = home / "media" / "es2003b.wav"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(DEV / "ami_ES2003b_0-30s.wav", path)
    audio = decode_audio(path)
    tr = asr_engine("tiny.en").transcribe(
        audio, TranscribeOptions(language="en", word_timestamps=True)
    )
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        known = voiceprints(cat)
        done = diarize_transcript(audio, tr, known)
        media, _ = cat.add_media(path, sha256_file(path), path.stat().st_size)
        cat.save_transcript(media.id, done.transcript)
        save_item_diarization(cat, media.id, done.diarization.turns, done.diarization.embeddings)
    emb = done.diarization.embeddings
    sims = {(lab, v.name): float(np.dot(emb[lab], v.vector)) for lab in emb for v in known}
    return media.id, done, sims


def _overlap(turns, label, ref, person) -> float:
    return sum(
        max(0.0, min(h.end, r.end) - max(h.start, r.start))
        for h in turns
        if h.speaker == label
        for r in ref
        if r.speaker == person
    )


@needs_models
def test_known_voice_named_and_stranger_left_unnamed(item):
    from vidpipe.speakers import MATCH_THRESHOLD, read_rttm

    _, done, sims = item
    print("cosine similarity (diarized speaker, voice):", {k: round(v, 3) for k, v in sims.items()})
    ref = read_rttm(DEV / "ami_ES2003b_0-30s.rttm")["ami_ES2003b_0-30s"]
    turns = done.diarization.turns
    assert "MEE009" in done.named.values()
    # the speaker that took the name is the one that overlaps MEE009's speech most
    mee009 = max(set(done.diarization.speakers), key=lambda s: _overlap(turns, s, ref, "MEE009"))
    assert mee009 == "MEE009"
    # the stranger named nobody: every similarity to FEE087 is under the threshold
    assert "FEE087" not in done.named.values()
    assert max(v for (_, name), v in sims.items() if name == "FEE087") < MATCH_THRESHOLD
    # the transcript's words and segments carry the name
    assert "MEE009" in (done.transcript.speakers or [])
    assert any(s.speaker == "MEE009" for s in done.transcript.segments)
    assert all(w.speaker for s in done.transcript.segments for w in s.words or [])


@needs_models
def test_rename_follows_in_show_search_and_export(home, item, tmp_path):
    media_id, done, _ = item
    labels = list(done.diarization.speakers)
    other = next((lab for lab in labels if lab.startswith("SPEAKER_")), None)
    r = vp(home, "speakers", "rename", str(media_id), "MEE009", "Matthew", "--json")
    assert r.returncode == 0, r.stderr
    speakers = {s["label"]: s for s in json.loads(r.stdout)}
    assert speakers["MEE009"]["name"] == "Matthew" and speakers["MEE009"]["speaker"] == "Matthew"
    assert speakers["MEE009"]["seconds"] > 0 and speakers["MEE009"]["segments"] >= 1
    if other:
        r = vp(home, "speakers", "rename", str(media_id), other, "Alice")
        assert r.returncode == 0, r.stderr
        assert "Alice" in r.stdout
    # renaming by the current name works too, and unknown speakers are one line (exit 3)
    r = vp(home, "speakers", "rename", str(media_id), "Matthew", "Matt")
    assert r.returncode == 0, r.stderr
    r = vp(home, "speakers", "rename", str(media_id), "SPEAKER_99", "X")
    assert r.returncode == 3 and "has no speaker 'SPEAKER_99'" in r.stderr
    assert "MEE009 (Matt)" in r.stderr  # the item's speakers are listed
    r = vp(home, "speakers", "rename", "999", "SPEAKER_00", "X")
    assert r.returncode == 3 and "no item with id 999" in r.stderr

    # export: the JSON transcript carries the names on segments and words
    out = tmp_path / "out"
    r = vp(home, "export", str(media_id), "-f", "json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(next(out.glob("*.json")).read_text())
    said = {s["speaker"] for s in doc["segments"]}
    assert "Matt" in said and "MEE009" not in said
    assert "Matt" in doc["speakers"]
    words = [w for s in doc["segments"] for w in s["words"]]
    assert words and all("speaker" in w for w in words)
    if other:
        assert "Alice" in said or "Alice" in doc["speakers"]

    # search hits carry the speaker; --speaker keeps one speaker's segments
    seg = next(s for s in doc["segments"] if s["speaker"] == "Matt" and s["text"].split())
    word = max(seg["text"].split(), key=len).strip(".,?!").lower()
    r = vp(home, "search", word, "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert any(h["speaker"] == "Matt" for h in hits), hits
    r = vp(home, "search", word, "--json", "--speaker", "matt")
    assert {h["speaker"] for h in json.loads(r.stdout)} == {"Matt"}
    r = vp(home, "search", word)
    assert "Matt: " in r.stdout
    # show lists the speakers and prefixes each line
    r = vp(home, "show", str(media_id))
    assert r.returncode == 0, r.stderr
    assert "speakers: " in r.stdout and "] Matt: " in r.stdout
    # '' goes back to the label
    r = vp(home, "speakers", "rename", str(media_id), "Matt", "", "--json")
    assert {s["label"]: s["name"] for s in json.loads(r.stdout)}["MEE009"] is None


def test_postgresql_rename_and_search(new_pg_url):
    """The speaker columns, names and search's join on PostgreSQL."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.search import search
    from vidpipe.library.speakers import item_speakers, rename_speakers, save_item_diarization
    from vidpipe.types import Segment, SpeakerTurn, Transcript, Word

    with Catalog(new_pg_url()) as cat:
        m, _ = cat.add_media("/x/talk.wav", "c" * 64, 10)
        segs = [
            Segment(id=0, start=0, end=2, text=" budget talk", speaker="SPEAKER_00",
                    words=[Word(start=0, end=1, word=" budget", speaker="SPEAKER_00"),
                           Word(start=1, end=2, word=" talk", speaker="SPEAKER_00")]),
            Segment(id=1, start=2, end=4, text=" more talk", speaker="SPEAKER_01"),
        ]  # fmt: skip
        cat.save_transcript(m.id, Transcript(duration=4, segments=segs))
        save_item_diarization(
            cat,
            m.id,
            [SpeakerTurn(start=0, end=2, speaker="SPEAKER_00"),
             SpeakerTurn(start=1.5, end=4, speaker="SPEAKER_01")],
        )  # fmt: skip
        rename_speakers(cat, m.id, {"SPEAKER_01": "Bob"})
        assert [s.speaker for s in item_speakers(cat, m.id)] == ["SPEAKER_00", "Bob"]
        assert [s.seconds for s in item_speakers(cat, m.id)] == [2.0, 2.5]
        assert {h.speaker for h in search(cat, "talk")} == {"SPEAKER_00", "Bob"}
        assert [h.text for h in search(cat, "talk", speaker="bob")] == [" more talk"]
        tr = cat.get_transcript(m.id)
        assert tr.speakers == ["SPEAKER_00", "Bob"]
        assert tr.segments[0].words[0].speaker == "SPEAKER_00"


def test_migration_0011_keeps_full_text_search(tmp_path):
    """A catalog made before speakers (revision 0010) with a transcript upgrades: its
    segments are still found, new segments too, and their speakers show."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from vidpipe.library.catalog import MIGRATIONS, Catalog
    from vidpipe.library.search import search
    from vidpipe.types import Segment, Transcript

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        conn.execute(
            text(
                "INSERT INTO media (id, path, sha256, size, created_at) "
                "VALUES (1, '/x/old.wav', :h, 1, CURRENT_TIMESTAMP)"
            ),
            {"h": "d" * 64},
        )
        conn.execute(
            text(
                "INSERT INTO transcripts (id, media_id, duration, created_at) "
                "VALUES (1, 1, 2.0, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                'INSERT INTO segments (transcript_id, idx, start, "end", text, search_text) '
                "VALUES (1, 0, 0.0, 2.0, ' an old budget', 'an old budget')"
            )
        )
    engine.dispose()
    with Catalog(url) as cat:  # upgrades to the newest revision
        assert [h.text for h in search(cat, "budget")] == [" an old budget"]
        assert search(cat, "budget")[0].speaker is None
        m, _ = cat.add_media("/x/new.wav", "e" * 64, 1)
        seg = Segment(id=0, start=0, end=1, text=" a new budget", speaker="SPEAKER_00")
        cat.save_transcript(m.id, Transcript(duration=1, segments=[seg]))
        assert {h.speaker for h in search(cat, "budget")} == {None, "SPEAKER_00"}
        assert cat.get_transcript(1).speakers is None  # the old transcript is unchanged


def test_add_without_the_extra_is_one_line_naming_it(tmp_path):
    # a torch that cannot be imported stands for an install without vidpipe[diarize]
    shadow = tmp_path / "shadow"
    (shadow / "torch").mkdir(parents=True)
    (shadow / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    env = dict(
        os.environ,
        VIDPIPE_HOME=str(tmp_path / "home"),
        VIDPIPE_DATABASE_URL="",
        PYTHONPATH=os.pathsep.join([str(shadow), *sys.path]),
    )
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "speakers", "add", "Ann", str(DATA / "jfk.flac")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 5, r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert 'pip install "vidpipe[diarize]"' in r.stderr and "Traceback" not in r.stderr
    # listing needs no model
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "speakers", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]"


@needs_models
def test_run_diarize_records_speakers_and_names_known_voices(clips, tmp_path):
    """``vidpipe run --diarize``: the diarize step runs as a job after transcribe on the
    catalog item; its turns and speakers are stored, a known voice names its speaker,
    the transcript carries the speakers (search hits too), and a rerun does nothing."""
    import shutil

    from sqlalchemy import select

    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import JobRow
    from vidpipe.library.search import search
    from vidpipe.library.speakers import item_speakers, item_turns

    home = tmp_path / "home"
    assert vp(home, "speakers", "add", "MEE009", str(clips["MEE009"])).returncode == 0
    meeting = tmp_path / "meeting.wav"
    shutil.copy(DEV / "ami_ES2003b_0-30s.wav", meeting)
    args = ["run", str(meeting), "--steps", "ingest,probe,audio,transcribe", "--diarize"]
    r = vp(home, *args, "-m", "tiny.en")
    assert r.returncode == 0, r.stderr
    assert "1 done" in r.stderr and "diarize 1" in r.stderr
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        (media,) = cat.all_media()
        with cat.session(write=False) as s:
            kinds = s.execute(select(JobRow.kind, JobRow.status).order_by(JobRow.created_at))
            assert [tuple(k) for k in kinds] == [
                (k, "succeeded") for k in ("probe", "audio", "transcribe", "diarize")
            ]
        speakers = item_speakers(cat, media.id)
        assert len(speakers) >= 2 and item_turns(cat, media.id)
        assert "MEE009" in {sp.speaker for sp in speakers}  # the known voice
        tr = cat.get_transcript(media.id)
        assert tr.segments and all(seg.speaker for seg in tr.segments)
        word = max((w for s in tr.segments for w in s.text.split()), key=len).strip(".,?!")
        assert all(h.speaker for h in search(cat, word))
    again = vp(home, *args, "-m", "tiny.en")
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
