"""Transcript editing with revisions (issue 22): ``PATCH /v1/items/{id}/transcript`` on
a real service (uvicorn on 127.0.0.1) over a catalog item with a stored, diarized
transcript (:mod:`edit_items`), and :func:`vidpipe.library.revisions.retime_words`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import start_service
from edit_items import jfk_transcript, store_jfk


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[tuple[httpx.Client, int, Path]]:
    item = store_jfk(tmp_path)
    running = start_service(tmp_path, worker=False)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            yield http, item, tmp_path
    finally:
        running.stop()


def _words(tr: dict) -> list[tuple[str, float, float]]:
    return [(w["word"], w["start"], w["end"]) for s in tr["segments"] for w in s["words"]]


def test_edit_is_a_new_revision_used_everywhere(svc):
    http, item, _ = svc
    before = http.get(f"/v1/items/{item}/transcript").json()
    assert http.get(f"/v1/items/{item}/transcript").headers["x-transcript-revision"] == "1"
    r = http.patch(
        f"/v1/items/{item}/transcript",
        json={
            "segments": [
                {
                    "id": 1,
                    "text": "ask not what your nation can do for you, "
                    "ask what you can do for your country.",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["revision"] == 2 and out["changed"] == [1] and out["removed"] == []
    latest = http.get(f"/v1/items/{item}/transcript").json()
    assert latest == out["transcript"]
    assert "nation" in latest["segments"][1]["text"]
    # unchanged words keep their times; the changed one sits where "country" was
    old, new = _words(before), _words(latest)
    assert len(old) == len(new)
    for (ow, os_, oe), (nw, ns, ne) in zip(old, new, strict=True):
        if ow.strip() == "country" and nw.strip() == "nation":
            assert os_ <= ns < ne <= oe + 0.5
        else:
            assert (ow, os_, oe) == (nw, ns, ne)
    srt = http.get(f"/v1/items/{item}/transcript", params={"format": "srt"}).text
    vtt = http.get(f"/v1/items/{item}/transcript", params={"format": "vtt"}).text
    assert "your nation can do" in srt and "your nation can do" in vtt
    orig = http.get(f"/v1/items/{item}/transcript", params={"revision": "original"})
    assert orig.headers["x-transcript-revision"] == "1"
    assert orig.json() == before
    hits = http.get("/v1/search", params={"q": "nation"}).json()["hits"]
    assert [h["media_id"] for h in hits] == [item]
    revs = http.get(f"/v1/items/{item}/transcript/revisions").json()["revisions"]
    assert [(v["number"], v["kind"], v["changed"]) for v in revs] == [
        (1, "machine", []),
        (2, "edit", [1]),
    ]
    # a second edit: revision 3; revision 2 still readable
    r = http.patch(
        f"/v1/items/{item}/transcript",
        json={"segments": [{"id": 0, "text": "And so, my fellow Americans"}]},
    )
    assert r.json()["revision"] == 3
    two = http.get(f"/v1/items/{item}/transcript", params={"revision": 2}).json()
    assert two["segments"][0]["text"] == before["segments"][0]["text"]
    assert "nation" in two["segments"][1]["text"]
    # no change: no new revision
    same = http.patch(
        f"/v1/items/{item}/transcript",
        json={"segments": [{"id": 0, "text": "And so, my fellow Americans"}]},
    )
    assert same.json()["revision"] == 3 and same.json()["changed"] == []


def test_speaker_and_removal_in_an_edit(svc):
    http, item, _ = svc
    assert (
        http.patch(f"/v1/items/{item}/speakers", json={"SPEAKER_01": "Kennedy"}).status_code == 200
    )
    r = http.patch(
        f"/v1/items/{item}/transcript", json={"segments": [{"id": 0, "speaker": "Kennedy"}]}
    )
    assert r.status_code == 200, r.text
    tr = r.json()["transcript"]
    assert [s["speaker"] for s in tr["segments"]] == ["Kennedy", "Kennedy"]
    assert {w["speaker"] for w in tr["segments"][0]["words"]} == {"Kennedy"}
    r = http.patch(
        f"/v1/items/{item}/transcript", json={"segments": [{"id": 1, "speaker": "Jackie"}]}
    )
    assert r.json()["transcript"]["speakers"][-1] == "Jackie"
    speakers = http.get(f"/v1/items/{item}/speakers").json()["speakers"]
    assert "Jackie" in [s["speaker"] for s in speakers]
    r = http.patch(f"/v1/items/{item}/transcript", json={"segments": [{"id": 0, "text": ""}]})
    assert r.json()["removed"] == [0]
    tr = http.get(f"/v1/items/{item}/transcript").json()
    assert [s["id"] for s in tr["segments"]] == [0] and tr["segments"][0]["text"].startswith(
        " ask not"
    )
    orig = http.get(f"/v1/items/{item}/transcript", params={"revision": "original"}).json()
    assert len(orig["segments"]) == 2


def test_bad_edits_are_one_line_errors(svc):
    http, item, _ = svc
    cases = [
        (
            f"/v1/items/{item}/transcript",
            {"segments": [{"id": 7, "text": "x"}]},
            400,
            "no segment 7",
        ),
        (
            f"/v1/items/{item}/transcript",
            {"segments": [{"id": 0, "text": "a"}, {"id": 0, "text": "b"}]},
            400,
            "twice",
        ),
        (f"/v1/items/{item}/transcript", {"segments": [{"id": 0}]}, 400, "give a text"),
        (f"/v1/items/{item}/transcript", {"segments": []}, 422, None),
        (f"/v1/items/{item}/transcript", {"segments": [{"id": -1, "text": "x"}]}, 422, None),
        ("/v1/items/999/transcript", {"segments": [{"id": 0, "text": "x"}]}, 404, "no item"),
    ]
    for url, body, status, words in cases:
        r = http.patch(url, json=body)
        assert r.status_code == status, (body, r.text)
        err = r.json()["error"]
        assert "\n" not in err["message"] and "Traceback" not in r.text
        if words:
            assert words in err["message"], err
    r = http.get(f"/v1/items/{item}/transcript", params={"revision": 5})
    assert r.status_code == 404 and "no transcript revision 5" in r.json()["error"]["message"]
    assert http.get(f"/v1/items/{item}/transcript", params={"revision": "x"}).status_code == 422


def test_new_machine_transcript_drops_the_revisions(svc):
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.revisions import edit_transcript, transcript_revisions

    _, item, home = svc
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        edit_transcript(cat, item, [{"id": 0, "text": "And so my fellow citizens"}])
        assert len(transcript_revisions(cat, item)) == 2
        cat.save_transcript(item, jfk_transcript())
        assert [r.kind for r in transcript_revisions(cat, item)] == ["machine"]
        assert "Americans" in cat.get_transcript(item).segments[0].text


def test_retime_words_chinese_and_insertions():
    from vidpipe.library.revisions import retime_words
    from vidpipe.types import Word

    zh = [
        Word(start=0, end=1, word="我们"),
        Word(start=1, end=2, word="今天"),
        Word(start=2.5, end=3, word="很好"),
    ]
    out = retime_words(zh, "我们明天很好", 0, 3)
    assert out[0] == zh[0] and out[-1] == zh[-1]
    middle = out[1:-1]
    assert "".join(w.word for w in middle) == "明天"
    assert middle[0].start == 1 and middle[-1].end == 2.5
    en = [Word(start=0, end=0.5, word=" hello"), Word(start=0.6, end=1.0, word=" world")]
    out = retime_words(en, "hello big wide world", 0, 1.2)
    assert out[0] == en[0] and out[-1] == en[-1]
    assert [w.word for w in out[1:3]] == [" big", " wide"]
    assert 0.5 <= out[1].start < out[1].end <= out[2].start < out[2].end <= 0.6
    out = retime_words(en, "goodbye", 0, 1.2)
    assert [(w.word, w.start, w.end) for w in out] == [(" goodbye", 0, 1.2)]


def test_postgresql_edit_search_groups_and_pause(new_pg_url, tmp_path: Path) -> None:
    """Migrations 0012/0013 and the edit, search, job groups and pause flag on
    PostgreSQL (skips without a server)."""
    import shutil

    from edit_items import DATA
    from vidpipe.files import sha256_file
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.job_groups import job_groups
    from vidpipe.library.queue_flags import paused_since, set_paused
    from vidpipe.library.revisions import edit_transcript, transcript_revision
    from vidpipe.library.search import search
    from vidpipe.pipeline.jobs import JobStore

    path = tmp_path / "jfk.flac"
    shutil.copy(DATA / "jfk.flac", path)
    with Catalog(new_pg_url()) as cat:
        m, _ = cat.add_media(path, sha256_file(path), path.stat().st_size)
        cat.save_transcript(m.id, jfk_transcript())
        done = edit_transcript(cat, m.id, [{"id": 1, "text": "ask not what your nation can do"}])
        assert done.revision == 2
        assert [h.media_id for h in search(cat, "nation")] == [m.id]
        assert "country" in transcript_revision(cat, m.id, "original").segments[1].text
        assert set_paused(cat, True) is not None and paused_since(cat) is not None
        assert set_paused(cat, False) is None
        store = JobStore(cat, tmp_path / "store")
        store.create("probe", {}, input={"media_id": m.id})
        groups, counts, total = job_groups(cat)
        assert total == 1 and groups[0].name == "jfk.flac" and counts["queued"] == 1
