"""Summaries and chapters computed from an older transcript revision (issue 22): the item
API says they are stale once the transcript was edited after them, and ``vidpipe
summarize`` / ``vidpipe chapters`` on the item compute them again (the options hash
includes the revision) instead of answering with the stored ones.

The catalog holds ``jfk.flac`` with its stored, diarized transcript (:mod:`edit_items`;
no model runs: the extractive backend summarizes). The CLI runs as ``python -m vidpipe``
in a subprocess on the same catalog as the service (uvicorn on 127.0.0.1, no worker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import start_service
from edit_items import store_jfk


def vp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


class Home:
    def __init__(self, home: Path, item: int, url: str) -> None:
        self.home, self.id, self.out = home, item, home / "out"
        self.http = httpx.Client(base_url=url, timeout=30)

    def cli(self, kind: str) -> str:
        """Run ``vidpipe <kind> <item>``; whether it said ``computed`` or ``stored``."""
        r = vp(self.home, kind, str(self.id), "-o", str(self.out))
        assert r.returncode == 0, r.stderr
        said = [w for w in ("(computed)", "(stored)") if w in r.stderr]
        assert len(said) == 1, r.stderr
        return said[0].strip("()")

    def states(self) -> tuple[dict, dict, int]:
        body = self.http.get(f"/v1/items/{self.id}").json()
        return body["summary_state"], body["chapters_state"], body["transcript"]["revision"]

    def edit(self, text: str) -> int:
        r = self.http.patch(
            f"/v1/items/{self.id}/transcript", json={"segments": [{"id": 1, "text": text}]}
        )
        assert r.status_code == 200, r.text
        return r.json()["revision"]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    item = store_jfk(tmp_path)
    svc = start_service(tmp_path, worker=False)
    try:
        yield Home(tmp_path, item, svc.url)
    finally:
        svc.stop()


def fresh(revision: int) -> dict:
    return {"revision": revision, "latest_revision": revision, "stale": False}


def test_an_edit_makes_summary_and_chapters_stale_and_the_cli_recomputes(home: Home) -> None:
    body = home.http.get(f"/v1/items/{home.id}").json()
    assert body["summary_state"] is None and body["chapters_state"] is None  # none yet
    assert body["transcript"]["revision"] == 1
    assert home.cli("summarize") == "computed"
    assert home.cli("chapters") == "computed"
    assert home.states() == (fresh(1), fresh(1), 1)
    assert home.cli("summarize") == "stored"  # nothing changed: reused

    # an edit: both were computed from revision 1, the transcript is at 2 now
    assert home.edit("ask not what your nation can do for you") == 2
    summary, chapters, rev = home.states()
    stale = {"revision": 1, "latest_revision": 2, "stale": True}
    assert (summary, chapters, rev) == (stale, stale, 2)
    old = home.http.get(f"/v1/items/{home.id}").json()["summary"]
    assert "nation" not in str(old)

    # summarize on the item computes again (not the stored one), from revision 2
    assert home.cli("summarize") == "computed"
    summary, chapters, _ = home.states()
    assert summary == fresh(2) and chapters == stale
    new = home.http.get(f"/v1/items/{home.id}").json()["summary"]
    assert "nation" in str(new), new
    assert home.cli("summarize") == "stored"
    assert home.cli("chapters") == "computed"
    assert home.states() == (fresh(2), fresh(2), 2)

    # a speaker change is a revision too: stale again
    r = home.http.patch(
        f"/v1/items/{home.id}/transcript", json={"segments": [{"id": 0, "speaker": "SPEAKER_01"}]}
    )
    assert r.json()["revision"] == 3
    stale = {"revision": 2, "latest_revision": 3, "stale": True}
    assert home.states() == (stale, stale, 3)
    assert home.cli("chapters") == "computed"
    assert home.states()[1] == fresh(3)


def test_an_edit_that_changes_nothing_keeps_results_fresh(home: Home) -> None:
    assert home.cli("summarize") == "computed"
    text = home.http.get(f"/v1/items/{home.id}/transcript").json()["segments"][1]["text"]
    r = home.http.patch(
        f"/v1/items/{home.id}/transcript", json={"segments": [{"id": 1, "text": text}]}
    )
    assert r.json()["revision"] == 1 and r.json()["changed"] == []
    assert home.states()[0] == fresh(1)
    assert home.cli("summarize") == "stored"


def test_a_new_machine_transcript_makes_results_stale(home: Home) -> None:
    """Transcribing the item again with other options (a new machine transcript: the
    revisions go) leaves the stored summary older than the transcript: stale, and
    computed again; with the same options the stored one is reused, and not stale."""
    from edit_items import jfk_transcript
    from vidpipe.library.catalog import Catalog

    assert home.cli("summarize") == "computed"
    assert home.edit("ask not what your nation can do for you") == 2
    db = f"sqlite:///{home.home / 'catalog.db'}"
    with Catalog(db) as cat:
        key = cat.transcript_row(home.id).options_hash
        cat.save_transcript(home.id, jfk_transcript(), key)  # the same options again
    assert home.states()[0] == fresh(1)  # the summary of revision 1 is that transcript's
    assert home.cli("summarize") == "stored"
    assert home.edit("ask not what your nation can do for you") == 2
    assert home.cli("summarize") == "computed"
    with Catalog(db) as cat:
        cat.save_transcript(home.id, jfk_transcript(), "another model")
    summary, chapters, rev = home.states()
    assert summary == {"revision": None, "latest_revision": 1, "stale": True}
    assert chapters is None and rev == 1
    assert home.cli("summarize") == "computed"
    assert home.states()[0] == fresh(1)
