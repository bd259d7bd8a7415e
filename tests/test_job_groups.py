"""Jobs grouped by input, bulk retry and clear finished (issue 22): the routes under
``/v1/queue`` on a real service (uvicorn on 127.0.0.1, no worker: the test runs the
jobs with :func:`vidpipe.pipeline.execute.run_job`, what a worker calls), real media
(``jfk.flac``) and a file that is not media."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from conftest import DATA, start_service

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


@pytest.fixture
def idle(tmp_path: Path):
    (tmp_path / "media").mkdir()
    shutil.copy(DATA / "jfk.flac", tmp_path / "media" / "jfk.flac")
    shutil.copy(DATA / "broken" / "pisets_notsound.wav", tmp_path / "media" / "notsound.wav")
    svc = start_service(tmp_path, worker=False)
    try:
        yield svc
    finally:
        svc.stop()


def _chain(http: httpx.Client, path: Path) -> tuple[str, str]:
    probe = http.post(
        "/v1/jobs", json={"kind": "probe", "input": {"path": str(path)}, "max_attempts": 1}
    )
    assert probe.status_code == 202, probe.text
    audio = http.post(
        "/v1/jobs",
        json={
            "kind": "audio",
            "input": {"path": str(path)},
            "depends_on": [probe.json()["id"]],
            "max_attempts": 1,
        },
    )
    assert audio.status_code == 202, audio.text
    return probe.json()["id"], audio.json()["id"]


def test_grouped_by_input_with_bulk_retry_and_clear(idle) -> None:
    from vidpipe.pipeline.execute import run_job

    store = idle.app.state.store
    media = idle.config.home / "media"
    with httpx.Client(base_url=idle.url, timeout=60) as http:
        good = _chain(http, media / "jfk.flac")
        bad = _chain(http, media / "notsound.wav")
        body = http.get("/v1/queue/groups").json()
        assert body["total"] == 2 and body["counts"]["queued"] == 2
        for job_id in (*good, bad[0]):
            run_job(store, job_id)
        assert store.get(bad[1]).status == "failed"  # through its dependency
        body = http.get("/v1/queue/groups").json()
        groups = {g["name"]: g for g in body["groups"]}
        assert set(groups) == {"jfk.flac", "notsound.wav"}
        assert body["counts"] == {"running": 0, "queued": 0, "failed": 1, "succeeded": 1}
        ok, failed = groups["jfk.flac"], groups["notsound.wav"]
        assert [j["kind"] for j in ok["jobs"]] == ["probe", "audio"]
        assert ok["state"] == "succeeded" and ok["finished_at"] and ok["created_at"]
        assert failed["state"] == "failed"
        assert failed["error"].startswith("probe: ") and "recognised" in failed["error"]
        assert not UUID.search(failed["error"]) and str(media) not in failed["error"]
        assert [j["blocked"] for j in failed["jobs"]] == [False, True]
        assert failed["jobs"][1]["error"] is None
        only = http.get("/v1/queue/groups", params={"state": "failed"}).json()
        assert [g["name"] for g in only["groups"]] == ["notsound.wav"] and only["total"] == 1
        # retry all failed: from the failed step, the step after it waits again
        retried = http.post("/v1/queue/retry-failed").json()["retried"]
        assert retried == [bad[0]]
        assert store.get(bad[0]).status == "queued" and store.get(bad[1]).status == "waiting"
        assert http.post("/v1/queue/retry-failed").json()["retried"] == []
        # clear finished: the ended group leaves the list, the retried one stays
        http.post("/v1/queue/clear-finished").raise_for_status()
        body = http.get("/v1/queue/groups").json()
        assert [g["name"] for g in body["groups"]] == ["notsound.wav"]
        assert body["groups"][0]["state"] == "queued"
        every = http.get("/v1/queue/groups", params={"all": "true"}).json()
        assert every["total"] == 2


def test_readable_error_lines() -> None:
    from vidpipe.library.job_groups import readable_error

    raw = (
        "dependency 0b6c1c1e-7f0a-4c55-9d8e-1f2a3b4c5d6e failed: dependency "
        "11111111-2222-3333-4444-555555555555 failed: /srv/vidpipe/uploads/file-0123/"
        "talk.mp4: not a recognised audio or video file"
    )
    assert readable_error(raw) == "talk.mp4: not a recognised audio or video file"
    assert readable_error("GET https://u:pw@h/x.mp4?token=abc failed") == (
        "GET https://u:***@h/x.mp4?token=*** failed"
    )
    assert readable_error(None) is None and len(readable_error("x" * 500)) == 200
