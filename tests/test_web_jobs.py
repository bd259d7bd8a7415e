"""The jobs page grouped by input (issue 22, part 3) in Debian's Chromium through
Playwright (the fixtures and screenshot helper of :mod:`test_web`): one row per input
with its steps as a strip, counts per state from the server, retry all failed, clear
finished, pages of 50 inputs. The service (uvicorn on 127.0.0.1) has no worker: the test
runs the jobs with :func:`vidpipe.pipeline.execute.run_job`, what a worker calls."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

import test_web
from conftest import DATA, start_service
from test_job_groups import _chain
from test_web import screenshot

browser = test_web.browser  # the module's fixtures, shared
page = test_web.page
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


def _groups(page: Any) -> dict[str, dict]:
    rows = page.eval_on_selector_all(
        "#groups .group",
        """gs => gs.map(g => ({
            name: g.querySelector('.g-name').textContent,
            state: g.dataset.state,
            steps: [...g.querySelectorAll('.stp')].map(s => s.dataset.kind + ':' + s.className),
            err: (g.querySelector(':scope > .err') || {}).textContent || null,
            times: g.querySelector('.g-times').textContent}))""",
    )
    return {r["name"]: r for r in rows}


def _counts(page: Any) -> dict[str, int]:
    return {
        li.get_attribute("data-state"): int(li.locator(".n").text_content())
        for li in page.locator("#counts li").all()
    }


def test_jobs_grouped_by_input_with_bulk_retry(idle, page: Any, browser: Any) -> None:
    from vidpipe.pipeline.execute import run_job

    store = idle.app.state.store
    media = idle.config.home / "media"
    with httpx.Client(base_url=idle.url, timeout=60) as http:
        good = _chain(http, media / "jfk.flac")
        bad = _chain(http, media / "notsound.wav")
        for job_id in (*good, bad[0]):
            run_job(store, job_id)
    page.goto(idle.url + "/jobs")
    page.wait_for_selector("#groups .group[data-state=failed]")
    groups = _groups(page)
    assert set(groups) == {"jfk.flac", "notsound.wav"}, groups
    ok, failed = groups["jfk.flac"], groups["notsound.wav"]
    assert ok["state"] == "succeeded" and "finished" in ok["times"] and "created" in ok["times"]
    assert [s.split(":")[0] for s in ok["steps"]] == ["probe", "audio"]
    assert "succeeded" in ok["steps"][0] and "blocked" in failed["steps"][1]
    assert failed["err"].startswith("probe: ") and not UUID.search(failed["err"])
    assert str(media) not in failed["err"]
    assert _counts(page) == {"running": 0, "queued": 0, "failed": 1, "succeeded": 1}
    # expand a group: each step with its state
    row = page.locator("#groups .group[data-state=failed]")
    row.locator("button.more").click()
    assert row.locator(".steps-detail li").count() == 2
    assert "not run" in row.locator(".steps-detail li").nth(1).text_content()
    shots = screenshot(browser, idle.url + "/jobs", "jobs-groups", "#groups .group")
    # retry all failed: the chain goes on from its failed step
    page.click("#g-retry")
    page.wait_for_selector("#groups .group[data-state=queued]")
    assert store.get(bad[0]).status == "queued" and store.get(bad[1]).status == "waiting"
    assert _counts(page)["failed"] == 0
    # expanded rows stay expanded across the live refresh
    assert page.locator("#groups .group[data-state=queued] .steps-detail").is_visible()
    # clear finished: the succeeded input leaves the list
    page.click("#g-clear")
    page.wait_for_function("document.querySelectorAll('#groups .group').length === 1")
    assert list(_groups(page)) == ["notsound.wav"]
    print("\n".join(f"screenshot: {p}" for p in shots))


def test_a_hundred_inputs_stay_one_row_each(idle, page: Any, browser: Any) -> None:
    media = idle.config.home / "media"
    with httpx.Client(base_url=idle.url, timeout=60) as http:
        for _ in range(50):
            _chain(http, media / "jfk.flac")
            _chain(http, media / "notsound.wav")
    page.goto(idle.url + "/jobs")
    page.wait_for_selector("#groups .group")
    assert page.locator("#groups .group").count() == 50  # a page of inputs
    assert _counts(page)["queued"] == 100
    assert page.is_visible("#j-more")
    page.click("#j-more")
    page.wait_for_function("document.querySelectorAll('#groups .group').length === 100")
    names = {g["name"] for g in _groups(page).values()}
    assert names == {"jfk.flac", "notsound.wav"}
    shots = screenshot(browser, idle.url + "/jobs", "jobs-100", "#groups .group")
    print("\n".join(f"screenshot: {p}" for p in shots))
