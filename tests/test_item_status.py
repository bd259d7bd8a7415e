"""One truth for an item's status (issue 19, point 3): derived from its jobs.

Files are uploaded to a real service (uvicorn on 127.0.0.1, its embedded worker) and
chained as the web page chains them (probe, then audio on the same file, then
transcribe on the audio); ``/v1/items``, ``/v1/items/{id}``, ``/v1/report`` and
``vidpipe report --json -`` must then agree: a failed step makes the item ``failed``
with ``"<step>: <message>"``, a chain that succeeded makes it ``done``. ``vidpipe run``
of a text file named ``.wav`` ends ``failed`` with probe's reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import DATA, start_service

FINAL = ("succeeded", "failed", "canceled")
SUBTITLES = "1\n00:00:01,000 --> 00:00:02,500\nAnd so, my fellow Americans\n"


def vp(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def _wait(client: httpx.Client, job_ids: list[str]) -> dict[str, dict]:
    deadline = time.monotonic() + 240
    while True:
        jobs = {j: client.get(f"/v1/jobs/{j}").json() for j in job_ids}
        if all(j["status"] in FINAL for j in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            pytest.fail(f"jobs did not end: {[(j['kind'], j['status']) for j in jobs.values()]}")
        time.sleep(0.2)


def _chain(client: httpx.Client, name: str, data: bytes, steps: list[str]) -> list[dict]:
    """Upload ``data`` as ``name`` and chain ``steps`` on it as the web page does."""
    up = client.post("/v1/files", files={"file": (name, data)})
    assert up.status_code == 201, up.text
    made: list[dict] = []
    path = None
    for kind in steps:
        body: dict = {"kind": kind, "params": {}}
        if made:
            body["depends_on"] = [made[-1]["id"]]
        if not made:
            body["input"] = {"path": up.json()["id"]}
        elif not (kind == "transcribe" and made[-1]["kind"] == "audio"):
            body["input"] = {"path": path}
        r = client.post("/v1/jobs", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        if not made:
            path = job["input"]["path"]
        made.append(job)
    return made


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    home = tmp_path_factory.mktemp("status_home")
    s = start_service(home)
    try:
        with httpx.Client(base_url=s.url, timeout=60) as client:
            steps = ["probe", "audio", "transcribe"]
            chains = {
                "subs.txt": _chain(client, "subs.txt", SUBTITLES.encode(), steps),
                "notsound.wav": _chain(
                    client,
                    "notsound.wav",
                    (DATA / "broken" / "pisets_notsound.wav").read_bytes(),
                    steps,
                ),
                "jfk.flac": _chain(
                    client, "jfk.flac", (DATA / "jfk.flac").read_bytes(), ["probe", "audio"]
                ),
                # no audio track: audio and transcribe succeed with nothing to do
                "silent.mp4": _chain(
                    client,
                    "silent.mp4",
                    (DATA / "video" / "moviepy_example.mp4").read_bytes(),
                    steps,
                ),
            }
            ends = _wait(client, [j["id"] for c in chains.values() for j in c])
        s.home = home
        s.chains = {n: [ends[j["id"]] for j in c] for n, c in chains.items()}
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(svc):
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        yield c


def _items(client: httpx.Client, **params) -> dict[str, dict]:
    r = client.get("/v1/items", params=params)
    assert r.status_code == 200, r.text
    return {it["name"]: it for it in r.json()["items"]}


def test_the_jobs_ended_as_expected(svc):
    for name in ("subs.txt", "notsound.wav"):
        probe, audio, transcribe = svc.chains[name]
        assert probe["status"] == "failed", probe
        assert audio["status"] == transcribe["status"] == "failed"
        assert audio["error"]["message"].startswith("dependency "), audio["error"]
    assert [j["status"] for j in svc.chains["jfk.flac"]] == ["succeeded", "succeeded"]
    assert [j["status"] for j in svc.chains["silent.mp4"]] == ["succeeded"] * 3


@pytest.mark.parametrize("name", ["subs.txt", "notsound.wav"])
def test_a_failed_upload_is_failed_with_the_steps_reason(client, svc, name):
    probe = svc.chains[name][0]
    it = _items(client)[name]
    assert it["status"] == "failed"
    assert it["step"] == "probe"
    assert it["status_basis"] == "jobs"
    assert it["reason"].startswith("probe: ")
    assert probe["error"]["message"] in it["reason"]
    detail = client.get(f"/v1/items/{it['id']}").json()
    assert detail["status"] == "failed" and detail["reason"] == it["reason"]
    kinds = {j["kind"]: j for j in detail["jobs"]}
    assert set(kinds) == {"probe", "audio", "transcribe"}
    assert kinds["probe"]["job_id"] == probe["id"] and kinds["probe"]["status"] == "failed"


def test_a_succeeded_chain_is_done(client, svc):
    it = _items(client)["jfk.flac"]
    assert it["status"] == "done", it
    assert it["reason"] is None and it["status_basis"] == "jobs"


def test_a_skipped_step_says_why(client, svc):
    it = _items(client)["silent.mp4"]
    assert it["status"] == "done", it
    assert it["reason"] == "audio, transcribe: skipped: no audio track"
    assert it["step"] == "audio"
    jobs = {j["kind"]: j for j in client.get(f"/v1/items/{it['id']}").json()["jobs"]}
    assert jobs["probe"]["skipped"] is False
    assert jobs["audio"]["skipped"] and jobs["audio"]["reason"] == "no audio track"


def test_status_filter_and_sort_use_the_derived_status(client):
    assert set(_items(client, status="failed")) == {"subs.txt", "notsound.wav"}
    assert set(_items(client, status="done")) == {"jfk.flac", "silent.mp4"}
    page = client.get("/v1/items", params={"status": "failed", "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next_cursor"] == "1"
    rest = client.get("/v1/items", params={"status": "failed", "limit": 1, "cursor": "1"}).json()
    assert {page["items"][0]["name"], rest["items"][0]["name"]} == {"subs.txt", "notsound.wav"}
    statuses = [
        it["status"] for it in client.get("/v1/items", params={"sort": "status"}).json()["items"]
    ]
    assert statuses == sorted(statuses) == ["done", "done", "failed", "failed"]
    statuses = [
        it["status"] for it in client.get("/v1/items", params={"sort": "-status"}).json()["items"]
    ]
    assert statuses == ["failed", "failed", "done", "done"]
    assert client.get("/v1/items", params={"status": "running"}).json()["items"] == []
    assert client.get("/v1/items", params={"status": "finished"}).status_code == 422


def test_report_json_says_the_same(client, svc):
    items = _items(client)
    r = vp(svc.home, "report", "--json", "-")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    rows = {Path(row["path"]).name: row for row in rep["items"]}
    for name, it in items.items():
        assert rows[name]["state"] == it["status"], (name, rows[name])
        assert rows[name]["reason"] == it["reason"]
        assert rows[name]["media_id"] == it["id"]
    assert rows["subs.txt"]["step"] == "probe"
    assert rep["totals"]["failed"] == 2 and rep["totals"]["done"] == 2
    assert rep["totals"]["no_audio"] == 1
    groups = {g["reason"]: g["items"] for g in rep["failures"]}
    assert all(reason.startswith("probe: ") for reason in groups)
    assert sorted(n for v in groups.values() for n in v) == ["notsound.wav", "subs.txt"]
    # the web page's report: the failures name the failing step
    page = client.get("/v1/report").json()
    failed = [i for g in page["failures"] for i in g["items"]]
    assert {i["step"] for i in failed} == {"probe"}
    assert {i["media_id"] for i in failed} == {items["subs.txt"]["id"], items["notsound.wav"]["id"]}
    assert page["totals"]["failed"] == 2
    # vidpipe show says it too, with the jobs
    shown = vp(svc.home, "show", str(items["subs.txt"]["id"]))
    assert shown.returncode == 0, shown.stderr
    assert f"status failed ({items['subs.txt']['reason']})" in " ".join(shown.stdout.split())
    assert "job probe " in shown.stdout and "job transcribe " in shown.stdout


def test_run_of_a_text_file_named_wav_fails_with_probes_reason(tmp_path):
    home = tmp_path / "home"
    subs = tmp_path / "subs.wav"
    subs.write_text(SUBTITLES)
    r = vp(home, "run", str(subs))
    assert r.returncode != 0
    assert "failed" in r.stdout + r.stderr
    rep = json.loads(vp(home, "report", "--json", "-").stdout)
    (row,) = rep["items"]
    assert row["state"] == "failed"
    assert row["reason"].startswith("probe: ")
    assert "not media" in row["reason"]


# --------------------------------------------------------------------------- derive


def _fact(kind, status, *, reason=None, skipped=False, error_class=None, at=0):
    from vidpipe.library.status import JobFact

    return JobFact(kind, f"{kind}-{at}", status, reason, skipped, error_class, at)


def test_derive_rules():
    from vidpipe.library.status import derive

    assert derive([]).status == "ingested"
    ok = [_fact("probe", "succeeded"), _fact("audio", "succeeded")]
    assert derive(ok).status == "done"
    assert derive([*ok, _fact("transcribe", "running")]).status == "running"
    assert derive([*ok, _fact("transcribe", "queued")]).status == "pending"
    assert derive([*ok, _fact("transcribe", "waiting")]).status == "pending"
    canceled = derive([*ok, _fact("transcribe", "canceled", reason="canceled")])
    assert (canceled.status, canceled.reason, canceled.step) == (
        "failed",
        "transcribe: canceled",
        "transcribe",
    )
    # the step that failed, not the dependents that failed because of it
    dep = _fact(
        "transcribe", "failed", reason="dependency x failed: boom", error_class="DependencyFailed"
    )
    st = derive([dep, _fact("probe", "succeeded"), _fact("audio", "failed", reason="boom")])
    assert (st.status, st.reason, st.step) == ("failed", "audio: boom", "audio")
    assert derive([*ok, dep]).reason == "transcribe: dependency x failed: boom"
    # the latest job of a step counts; a retry that succeeded clears the failure
    assert derive([*ok, _fact("probe", "failed", reason="x", at=5)]).status == "failed"
    assert (
        derive([_fact("probe", "failed", reason="x"), _fact("probe", "succeeded", at=5)]).status
        == "done"
    )
    # a later skipped job (a duplicate's chain) does not hide the work done
    dup = _fact("probe", "succeeded", reason="duplicate content of a", skipped=True, at=9)
    assert derive([*ok, dup]).status == "done" and derive([*ok, dup]).reason is None
    assert (derive([dup]).status, derive([dup]).reason) == ("skipped", "duplicate content of a")


def test_with_source_rules():
    from vidpipe.library.status import derive, with_source

    assert with_source(None, None, None).status == "ingested"
    st = with_source(None, "failed", "probe: /a/x.wav: not media")
    assert (st.status, st.step, st.basis) == (
        "failed",
        "probe",
        "source",
    )
    assert with_source(None, "done", None).status == "done"
    # a later job on another step does not hide the step `vidpipe run` failed at
    later = derive([_fact("summarize", "succeeded")])
    st = with_source(later, "failed", "transcribe: model error")
    assert (st.status, st.reason, st.step) == ("failed", "transcribe: model error", "transcribe")
    # a job of that step decides (a retry through the jobs)
    again = derive([_fact("transcribe", "succeeded")])
    assert with_source(again, "failed", "transcribe: model error").status == "done"


# --------------------------------------------------------------------------- both backends


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
    else:
        url = request.getfixturevalue("new_pg_url")()
    s = JobStore(Catalog(url), root=tmp_path / "storage")
    yield s
    s.catalog.close()


def _end(store, job, *, result=None, error=None):
    from vidpipe.types import JobError

    got = store.claim(job.id, "test-owner")
    assert got is not None, job
    if error is not None:
        return store.fail(
            job.id, "test-owner", JobError(error_class="MediaError", message=error), retry=False
        )
    return store.succeed(job.id, "test-owner", result or {})


def test_jobs_name_their_item_every_way_on_both_backends(store, tmp_path):
    """By media id, by file path, by source id, and through a dependency; the latest
    job of a step counts; one call reads them all."""
    from vidpipe.files import sha256_file
    from vidpipe.library.items import item_detail, list_items
    from vidpipe.library.report import build_report
    from vidpipe.library.status import job_statuses

    cat = store.catalog
    files = {}
    for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
        p = tmp_path / name
        p.write_bytes(name.encode() * 100)
        files[name] = cat.add_media(p.resolve(), sha256_file(p), p.stat().st_size)[0].id
    # a: by media id; a failed probe, then a retry that succeeded (the latest counts)
    _end(store, store.create("probe", input={"media_id": files["a.wav"]}), error="broken")
    _end(
        store,
        store.create("probe", input={"media_id": files["a.wav"]}),
        result={"media_id": files["a.wav"]},
    )
    # b: by its file; probe fails, audio after it fails because of it (names nothing)
    probe = store.create("probe", input={"path": str(tmp_path / "b.wav")})
    audio = store.create("audio", depends_on=[probe.id])
    _end(store, probe, error="not media: no decodable audio or video stream")
    assert store.get(audio.id).status == "failed"
    # c: an input line (source) whose item it is; a queued job
    src = cat.add_source(str(tmp_path / "c.wav"), "file")
    cat.set_source_state(src.id, "pending", None, media_id=files["c.wav"])
    store.create("transcribe", input={"source_id": src.id, "media_id": files["c.wav"]})
    # d: no job at all, no source: ingested

    derived = job_statuses(cat)
    assert derived.of_media(files["a.wav"]).status == "done"
    b = derived.of_media(files["b.wav"])
    assert (b.status, b.step) == ("failed", "probe")
    assert b.reason == "probe: not media: no decodable audio or video stream"
    assert {f.kind for f in b.jobs} == {"probe", "audio"}
    assert derived.of_source(src.id, files["c.wav"]).status == "pending"
    assert derived.of_media(files["d.wav"]) is None

    page = {it["name"]: it for it in list_items(cat).items}
    assert [page[n]["status"] for n in ("a.wav", "b.wav", "c.wav", "d.wav")] == [
        "done", "failed", "pending", "ingested",
    ]  # fmt: skip
    assert {it["name"] for it in list_items(cat, status="ingested").items} == {"d.wav"}
    detail = item_detail(cat, files["b.wav"])  # reads only the jobs that may name it
    assert detail["reason"] == b.reason
    assert {j["kind"] for j in detail["jobs"]} == {"probe", "audio"}  # audio through its dependency
    assert job_statuses(cat, [files["c.wav"]]).of_media(files["c.wav"]).status == "pending"
    assert job_statuses(cat, []).by_media == {}
    rows = {Path(r.path).name: r for r in build_report(cat).rows}
    assert rows["c.wav"].state == "pending" and rows["c.wav"].source_id == src.id
    assert rows["b.wav"].state == "failed" and rows["b.wav"].source_id is None
    assert "d.wav" not in rows  # no input line, no job: not a report row


# --------------------------------------------------------------------------- the web page


def test_the_library_page_shows_the_failed_uploads_and_their_step(svc, client):
    """The page reads the API: the uploads' badges say failed, the failures name probe
    (no "None."), the item page says why."""
    chromium = Path(os.environ.get("VIDPIPE_CHROMIUM", "/usr/bin/chromium"))
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not chromium.is_file():
        pytest.skip(f"no Chromium at {chromium} (set VIDPIPE_CHROMIUM)")
    items = _items(client)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(svc.url + "/")
            page.wait_for_selector("#lib-rows tr[data-id]")
            page.wait_for_selector("#failures .failure")
            badges = page.eval_on_selector_all(
                "#lib-rows tr[data-id]",
                "rows => rows.map(r => [r.querySelector('.title-cell a').textContent,"
                " r.querySelector('.stat').textContent])",
            )
            assert dict(badges) == {n: it["status"] for n, it in items.items()}
            failures = page.text_content("#failures")
            assert "None." not in failures and "probe: " in failures
            assert "subs.txt" in failures and "notsound.wav" in failures
            assert page.text_content("#totals [data-total=failed]") == "2"
            page.goto(f"{svc.url}/items/{items['notsound.wav']['id']}")
            page.wait_for_selector("#item-facts .reason")
            assert items["notsound.wav"]["reason"] in page.text_content("#item-facts")
        finally:
            browser.close()
