"""Pausing the queue (issue 22): ``POST /v1/queue/pause`` on a real service (uvicorn on
127.0.0.1 with its embedded queue worker); workers take no new job while paused and
take it once resumed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from conftest import start_service
from edit_items import store_jfk


def _wait(http: httpx.Client, job_id: str, statuses: set[str], limit: float = 120) -> dict:
    deadline = time.monotonic() + limit
    while True:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_pause_stops_new_claims_and_resume_runs_them(tmp_path: Path) -> None:
    item = store_jfk(tmp_path)
    svc = start_service(tmp_path)
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            state = http.get("/v1/queue").json()
            assert state["paused"] is False and state["paused_since"] is None
            # the worker runs jobs while not paused (a baseline in this same service)
            first = http.post("/v1/jobs", json={"kind": "probe", "input": {"media_id": item}})
            assert _wait(http, first.json()["id"], {"succeeded", "failed"})["status"] == "succeeded"
            paused = http.post("/v1/queue/pause").json()
            assert paused["paused"] is True and paused["paused_since"]
            again = http.post("/v1/queue/pause").json()
            assert again["paused_since"] == paused["paused_since"]  # the first time is kept
            # workers read the flag at most once a second (documented): let them see it
            time.sleep(1.5)
            job = http.post(
                "/v1/jobs", json={"kind": "probe", "input": {"media_id": item}, "params": {}}
            ).json()
            # the worker looks at the flag before every message (every poll, at most 1 s):
            # give it several looks, then the job must still be unclaimed
            time.sleep(4)
            seen = http.get(f"/v1/jobs/{job['id']}").json()
            assert seen["status"] == "queued" and seen["attempts"] == 0, seen
            state = http.get("/v1/queue").json()
            assert state["paused"] is True and state["counts"]["queued"] >= 1
            assert state["counts"]["succeeded"] >= 1
            resumed = http.post("/v1/queue/resume").json()
            assert resumed["paused"] is False
            assert _wait(http, job["id"], {"succeeded", "failed"})["status"] == "succeeded"
    finally:
        svc.stop()
