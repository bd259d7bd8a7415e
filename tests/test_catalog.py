"""The catalog and full-text search, run the same way on SQLite and on PostgreSQL.

PostgreSQL: the ``pg_url`` database of ``conftest.py`` (one per test process); the
tests skip when it is not reachable.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import inspect, text

from conftest import DATA
from vidpipe.library.catalog import Catalog, sha256_file
from vidpipe.library.search import index_text, query_terms, search, snippet
from vidpipe.types import Segment, Transcript, Word

TABLES = {"sources", "media", "stages", "failures", "transcripts", "segments", "words"}


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    else:
        url = request.getfixturevalue("pg_url")
        cat = Catalog(url)
        with cat.engine.begin() as conn:  # a clean slate for each test
            conn.execute(text(f"TRUNCATE {', '.join(sorted(TABLES))} RESTART IDENTITY CASCADE"))
    yield cat
    cat.close()


@pytest.fixture(scope="module")
def jfk_transcript() -> Transcript:
    from vidpipe import transcribe

    return transcribe(DATA / "jfk.flac", model="tiny.en", word_timestamps=True)


@pytest.fixture(scope="module")
def zh_transcript() -> Transcript:
    from vidpipe import transcribe

    return transcribe(DATA / "zh" / "aishell_BAC009S0724W0121.wav", model="base")


def _media(cat: Catalog, path, n: int = 0):
    sha = sha256_file(path) if n == 0 else f"{n:064x}"
    media, created = cat.add_media(path, sha, os.path.getsize(path))
    return media, created


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from vidpipe.library.catalog import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_migrations_create_schema(catalog):
    insp = inspect(catalog.engine)
    assert set(insp.get_table_names()) >= TABLES
    with catalog.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head_revision()
    if catalog.dialect == "sqlite":
        with catalog.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            names = {
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
            }
        assert "segments_fts" in names
    else:
        cols = {c["name"] for c in insp.get_columns("segments")}
        assert "search_tsv" in cols
    # opening again is a no-op upgrade
    Catalog(catalog.url).close()


def test_sources_keep_input_order_and_states(catalog):
    uris = [f"http://example.com/{n}.mp4" for n in (10, 2, 1)]
    for line, uri in enumerate(uris, 1):
        catalog.add_source(uri, "list-entry", "/tmp/links.txt", line)
    srcs = catalog.sources()
    assert [s.uri for s in srcs] == uris
    assert [s.position for s in srcs] == [1, 2, 3]
    catalog.set_source_state(srcs[1].id, "failed", "download: HTTP 404 Not Found")
    catalog.record_failure("download", "HTTPStatusError", "HTTP 404", source_id=srcs[1].id)
    catalog.record_failure("download", "HTTPStatusError", "HTTP 404", source_id=srcs[1].id)
    assert [s.state for s in catalog.sources()] == ["pending", "failed", "pending"]
    (f,) = catalog.failures()
    assert f.attempts == 2 and f.stage == "download" and f.last_at >= f.first_at
    assert catalog.find_source(uris[0], "/tmp/links.txt", 1).id == srcs[0].id
    assert catalog.find_source(uris[0], "/tmp/links.txt", 2) is None


def test_media_duplicate_sha256_collapses(catalog, tmp_path):
    a = tmp_path / "a.flac"
    b = tmp_path / "b.flac"
    a.write_bytes((DATA / "jfk.flac").read_bytes())
    b.write_bytes((DATA / "jfk.flac").read_bytes())
    m1, created1 = _media(catalog, a)
    m2, created2 = _media(catalog, b)
    assert created1 and not created2
    assert m1.id == m2.id and m2.path == str(a)
    assert len(catalog.all_media()) == 1
    assert m1.sha256 == sha256_file(DATA / "jfk.flac")


def test_item_steps_are_a_view_of_its_jobs(catalog, tmp_path):
    """``Catalog.stages``: the latest job of each kind in the chains of the item's
    sources, with the job's options hash; a skipped job says why."""
    from vidpipe.library.catalog import owner_id
    from vidpipe.pipeline.jobs import JobStore
    from vidpipe.types import JobError

    m, _ = _media(catalog, DATA / "jfk.flac")
    src = catalog.add_source(str(DATA / "jfk.flac"), "file")
    catalog.set_source_state(src.id, "pending", None, media_id=m.id)
    store = JobStore(catalog, root=tmp_path / "store")
    given = {"media_id": m.id, "source_id": src.id}
    assert catalog.stages(m.id) == [] and catalog.stage(m.id, "probe") is None
    probe = store.create("probe", {}, input=given)
    tr = store.create("transcribe", {"model": "tiny.en"}, input=given, depends_on=[probe.id])
    assert [(st.stage, st.status) for st in catalog.stages(m.id)] == [
        ("probe", "pending"),
        ("transcribe", "pending"),
    ]
    me = owner_id()
    store.claim(probe.id, me)
    assert catalog.stage(m.id, "probe").status == "running"
    store.fail(probe.id, me, JobError(error_class="MediaError", message="broken"), retry=False)
    st = catalog.stage(m.id, "probe")
    assert (st.status, st.error, st.options_hash) == ("failed", "broken", probe.params_hash)
    again = store.create("probe", {}, input=given)  # the latest job of a kind counts
    store.claim(again.id, me)
    store.succeed(again.id, me, {"media_id": m.id})
    assert catalog.stage(m.id, "probe").status == "done"
    audio = store.create("audio", {}, input=given, depends_on=[again.id])
    store.claim(audio.id, me)
    store.succeed(audio.id, me, {"skipped": "no audio track", "media_id": m.id})
    assert (catalog.stage(m.id, "audio").status, catalog.stage(m.id, "audio").error) == (
        "skipped",
        "no audio track",
    )
    assert catalog.stage(m.id, "transcribe").status == "failed"  # its probe failed
    assert catalog.stage(m.id, "transcribe").options_hash == tr.params_hash


def test_probe_recorded(catalog):
    from vidpipe.media.probe import probe

    path = DATA.parent.parent / "examples" / "speech_bunny.mp4"
    m, _ = _media(catalog, path)
    catalog.record_probe(m.id, probe(path))
    m = catalog.get_media(m.id)
    assert m.width and m.height and m.video_codec == "h264" and m.audio_codec
    assert 23 < m.duration < 25 and m.probe["streams"]


def test_search_english_real_transcript(catalog, jfk_transcript):
    m, _ = _media(catalog, DATA / "jfk.flac")
    catalog.save_transcript(m.id, jfk_transcript, "h1")
    hits = search(catalog, "fellow Americans")
    assert hits, [s.text for s in jfk_transcript.segments]
    best = hits[0]
    assert best.media_id == m.id and best.path == str(DATA / "jfk.flac")
    assert 0.0 <= best.start <= 3.0
    assert "[fellow] [Americans]" in best.snippet
    assert search(catalog, "your country")[0].start < 11.0
    assert search(catalog, "zebra crossing") == []
    # the stored transcript round-trips, words included
    back = catalog.get_transcript(m.id)
    assert back.text == jfk_transcript.text
    assert len(back.words) == len(jfk_transcript.words) > 10
    assert back.segments[0].words[0].start == pytest.approx(jfk_transcript.words[0].start)


def test_search_chinese(catalog, tmp_path, zh_transcript):
    wav = DATA / "zh" / "aishell_BAC009S0724W0121.wav"
    m, _ = _media(catalog, wav)
    # the known text of this AISHELL utterance, as a segment of a transcript
    known = Transcript(
        language="zh",
        duration=4.0,
        segments=[Segment(id=0, start=0.1, end=3.6, text="广州市房地产中介协会分析")],
    )
    catalog.save_transcript(m.id, known, "known")
    (hit,) = search(catalog, "房地产")
    assert hit.start == pytest.approx(0.1) and hit.snippet == "广州市[房地产]中介协会分析"
    assert search(catalog, "中介协会")[0].media_id == m.id
    assert search(catalog, "上海") == []
    # a real transcript by the base model, searched with text as it is stored
    other = tmp_path / "zh_copy.wav"
    other.write_bytes(wav.read_bytes() + b"\0")  # different content, different sha256
    m2, _ = _media(catalog, other)
    catalog.save_transcript(m2.id, zh_transcript, "base")
    stored = zh_transcript.segments[0].text
    word = next(t for t in query_terms(stored) if len(t) >= 2)
    hits = search(catalog, word)
    assert any(h.media_id == m2.id and 0 <= h.start < 1.0 for h in hits), (stored, word)


def test_search_chinese_traditional_and_simplified(catalog, tmp_path):
    # Whisper base writes this AISHELL utterance in Traditional characters
    # ("廣州市佛地產中間協會分析"); a user types Simplified, or the other way round.
    wav = tmp_path / "trad.wav"
    wav.write_bytes((DATA / "zh" / "aishell_BAC009S0724W0121.wav").read_bytes() + b"\1")
    m, _ = _media(catalog, wav)
    trad = Transcript(
        language="zh",
        duration=4.0,
        segments=[Segment(id=0, start=0.11, end=3.63, text="廣州市房地產中介協會分析")],
    )
    catalog.save_transcript(m.id, trad, "trad")
    (hit,) = [h for h in search(catalog, "房地产") if h.media_id == m.id]
    assert hit.snippet == "廣州市[房地產]中介協會分析"  # highlighted in the stored script
    assert m.id in [h.media_id for h in search(catalog, "協會")]  # Traditional query too


def test_search_ranking_and_replacement(catalog, tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.wav"
        p.write_bytes(bytes([i]) * 10)
        paths.append(p)
    media = [_media(catalog, p)[0] for p in paths]
    texts = [
        "the cat sat on the mat near another cat and a cat",
        "a dog and a cat",
        "nothing about animals here at all",
    ]
    for m, t in zip(media, texts, strict=True):
        catalog.save_transcript(
            m.id,
            Transcript(duration=5, segments=[Segment(id=0, start=1.5, end=4, text=t)]),
        )
    hits = search(catalog, "cat")
    assert [h.media_id for h in hits] == [media[0].id, media[1].id]
    assert hits[0].score >= hits[1].score
    assert len(search(catalog, "cat", limit=1)) == 1
    # a new transcript replaces the old one in the index
    catalog.save_transcript(
        media[1].id,
        Transcript(
            duration=5,
            segments=[
                Segment(
                    id=0,
                    start=2,
                    end=3,
                    text="a bird",
                    words=[Word(start=2, end=2.5, word=" a"), Word(start=2.5, end=3, word=" bird")],
                )
            ],
        ),
    )
    assert [h.media_id for h in search(catalog, "cat")] == [media[0].id]
    assert search(catalog, "bird")[0].start == 2
    assert catalog.word_counts()[media[1].id] == 2


def test_tokeniser_helpers():
    assert "房地产" in index_text("广州市房地产中介协会分析").split()
    assert index_text("Hello world") == "Hello world"
    assert query_terms("Fellow, Americans!") == ["fellow", "americans"]
    assert snippet("And so, my fellow Americans", ["fellow"]) == "And so, my [fellow] Americans"


def _catalog_at(revision: str, backend: str, tmp_path, request) -> str:
    """The URL of a new catalog on ``backend`` migrated only up to ``revision``."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from vidpipe.library.catalog import MIGRATIONS

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("new_pg_url")()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0005_keeps_one_transcript_per_item(backend, tmp_path, request):
    # catalogs written by two runs at once before 0005 hold two transcripts for one item
    from sqlalchemy.exc import IntegrityError

    from vidpipe.library.catalog import utcnow

    url = _catalog_at("0004", backend, tmp_path, request)
    old = Catalog(url, upgrade=False)
    m, _ = _media(old, DATA / "jfk.flac")
    for text_ in ("fellow Americans first", "fellow Americans again"):
        tr = Transcript(duration=11, segments=[Segment(id=0, start=0.5, end=3, text=text_)])
        with old.session() as s:  # the old, racy write: no replacement
            s.execute(
                text(
                    "INSERT INTO transcripts (media_id, duration, created_at) VALUES (:m, 11, :t)"
                ),
                {"m": m.id, "t": utcnow()},
            )
            tid = s.execute(text("SELECT max(id) FROM transcripts")).scalar()
            s.execute(
                text(
                    'INSERT INTO segments (transcript_id, idx, start, "end", text, search_text) '
                    "VALUES (:t, 0, 0.5, 3, :x, :x)"
                ),
                {"t": tid, "x": tr.segments[0].text},
            )
    old.close()
    with Catalog(url) as cat:  # upgrades to 0005
        assert len(search(cat, "fellow Americans")) == 1
        assert cat.get_transcript(m.id).text.strip() == "fellow Americans again"
        with pytest.raises(IntegrityError), cat.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO transcripts (media_id, duration, created_at) VALUES (:m, 1, :t)"),
                {"m": m.id, "t": utcnow()},
            )
        assert len(search(cat, "again")) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0010_fills_jobs_source_id_from_their_input(backend, tmp_path, request):
    from sqlalchemy import create_engine

    from vidpipe.library.catalog import utcnow

    url = _catalog_at("0009", backend, tmp_path, request)
    engine = create_engine(url)
    with engine.begin() as conn:
        for job_id, given in (("a", '{"url": "http://x/a.mp4", "source_id": 7}'), ("b", "{}")):
            conn.execute(
                text(
                    "INSERT INTO jobs (id, kind, params, params_hash, stage_version, input,"
                    " status, progress, attempts, max_attempts, cancel_requested, created_at,"
                    " updated_at) VALUES (:i, 'download', '{}', 'h', 1, :g, 'queued', 0, 0, 3,"
                    " false, :t, :t)"
                ),
                {"i": job_id, "g": given, "t": utcnow()},
            )
    engine.dispose()
    with Catalog(url) as cat, cat.engine.connect() as conn:  # upgrades to 0010
        rows = dict(conn.execute(text("SELECT id, source_id FROM jobs")).all())
    assert rows == {"a": 7, "b": None}


def test_connections_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path):
    """Each new connection switches the file to WAL; on a new file several at once each
    hold a shared lock and want an exclusive one, and SQLite answers one of them
    "database is locked" at once (no busy wait). Two `vidpipe run` on a fresh catalog
    failed so; 6 threads at a barrier failed in 9 of 200 tries before the retry."""
    import threading

    from sqlalchemy import create_engine, event

    from vidpipe.library.catalog import _sqlite_pragmas

    errors: list[str] = []
    for trial in range(100):
        engines = []
        for _ in range(6):
            engine = create_engine(f"sqlite:///{tmp_path / f'{trial}.db'}")
            event.listen(engine, "connect", _sqlite_pragmas)
            engines.append(engine)
        barrier = threading.Barrier(len(engines))

        def connect(engine, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                with engine.connect():
                    pass
            except Exception as exc:
                errors.append(str(exc).splitlines()[0])
            finally:
                engine.dispose()

        threads = [threading.Thread(target=connect, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
