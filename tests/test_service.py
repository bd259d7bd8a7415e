"""The HTTP service core on a real uvicorn server: health, errors, auth, limits, jobs,
events, artifacts, uploads, callbacks, metrics (issue 12)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from conftest import DATA, start_service


@pytest.fixture(scope="module")
def client(service_url: str):
    with httpx.Client(base_url=service_url, timeout=30) as c:
        yield c


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"type", "message", "hint", "request_id"} <= set(body["error"])
    assert "Traceback" not in r.text
    return body["error"]


def test_health_needs_nothing(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["version"]
    assert r.headers["x-request-id"]


def test_unknown_route_is_a_json_404_with_the_request_id(client):
    r = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 404
    err = _error(r)
    assert err["type"] == "NotFound"
    assert err["request_id"] == "abc-123" == r.headers["x-request-id"]


def test_ready_with_the_embedded_worker(client):
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["workers"] >= 1
    assert all(c["ok"] for c in body["checks"].values())


def test_openapi_document_lists_the_routes(client):
    doc = client.get("/openapi.json").json()
    assert {"/health", "/ready", "/metrics"} <= set(doc["paths"])
    assert "ErrorResponse" in doc["components"]["schemas"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    svc = start_service(tmp_path_factory.mktemp("keyed"), keys=["k-one", "k-two"], worker=False)
    try:
        yield svc
    finally:
        svc.stop()


def test_keys_are_required_except_for_health(keyed):
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/metrics")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert _error(r)["message"] == "missing API key"
        r = c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert _error(r)["message"] == "wrong API key"
        assert c.get("/openapi.json").status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer k-two"})
        assert ok.status_code == 200
        assert "vidpipe_jobs" in ok.text


def test_ready_without_any_worker_is_503_naming_it(keyed):
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        r = c.get("/ready", headers={"Authorization": "Bearer k-one"})
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["workers"]["ok"] is False
    assert "no worker seen" in body["checks"]["workers"]["detail"]
    assert body["checks"]["catalog"]["ok"] and body["checks"]["queue"]["ok"]


# --------------------------------------------------------------------------- jobs


def _follow(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    """The job's server-sent events until the stream ends: ``(event, data)``."""
    events: list[tuple[str, dict]] = []
    name = None
    deadline = time.monotonic() + 180  # pings every 15 s keep a stuck stream open
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} did not end: {events[-1:]}")
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


@pytest.fixture(scope="module")
def spoken(client) -> dict:
    """A speak job run to its end by the embedded worker, with its events."""
    body = {"kind": "speak", "input": {"text": "Hello there. This is the jobs API speaking."}}
    r = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "spoken-1"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running")
    events = _follow(client, job["id"])
    return {"job": job, "events": events, "body": body}


def test_job_goes_from_202_through_progress_to_succeeded(spoken, client):
    names = [n for n, _ in spoken["events"]]
    assert names[0] == "status" and names[-1] == "end"
    assert "progress" in names
    progress = [d["progress"] for n, d in spoken["events"] if n == "progress"]
    assert progress == sorted(progress)
    end = spoken["events"][-1][1]
    assert end["status"] == "succeeded"
    assert end["result"]["duration"] > 1.0
    shown = client.get(f"/v1/jobs/{spoken['job']['id']}").json()
    assert shown["status"] == "succeeded" and shown["progress"] == 1.0
    assert {a["name"] for a in shown["artifacts"]} == {"speech.wav", "transcript.json"}


def test_idempotency_key_gives_back_the_same_job(spoken, client):
    r = client.post("/v1/jobs", json=spoken["body"], headers={"Idempotency-Key": "spoken-1"})
    assert r.status_code == 202
    assert r.json()["id"] == spoken["job"]["id"]
    r = client.post(
        "/v1/jobs",
        json={"kind": "probe", "input": {"text": "x"}},
        headers={"Idempotency-Key": "spoken-1"},
    )
    assert r.status_code == 409
    assert _error(r)["type"] == "ConflictError"


def test_artifact_answers_ranges(spoken, client):
    job = client.get(f"/v1/jobs/{spoken['job']['id']}").json()
    wav = next(a for a in job["artifacts"] if a["name"] == "speech.wav")
    whole = client.get(wav["url"])
    assert whole.status_code == 200
    assert whole.content[:4] == b"RIFF" and len(whole.content) == wav["size"]
    part = client.get(wav["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{wav['size']}"
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/../../catalog.db").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/nope.wav").status_code == 404


def test_finished_job_cannot_be_canceled_nor_retried(spoken, client):
    jid = spoken["job"]["id"]
    r = client.post(f"/v1/jobs/{jid}/cancel")
    assert r.status_code == 409 and "already succeeded" in _error(r)["message"]
    assert client.post(f"/v1/jobs/{jid}/retry").status_code == 409


def test_bad_job_requests_are_one_clear_error(client):
    r = client.post("/v1/jobs", json={"kind": "nope"})
    assert r.status_code == 400
    err = _error(r)
    assert err["type"] == "UsageError" and "unknown job kind 'nope'" in err["message"]
    assert "speak" in err["hint"]
    r = client.post("/v1/jobs", json={"kind": "speak", "params": {"bogus": 1}})
    assert r.status_code == 400 and "bogus" in _error(r)["message"]
    r = client.post("/v1/jobs", json={"params": {}})
    assert r.status_code == 422
    assert _error(r)["message"].startswith("body.kind")
    r = client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert client.get("/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/v1/jobs?status=sleeping").status_code == 400


def test_list_pages_with_a_cursor(spoken, client):
    for i in range(2):
        r = client.post("/v1/jobs", json={"kind": "speak", "input": {"text": f"Page {i}."}})
        assert r.status_code == 202
    first = client.get("/v1/jobs", params={"limit": 2, "kind": "speak"}).json()
    assert len(first["jobs"]) == 2 and first["next_cursor"]
    rest = client.get(
        "/v1/jobs", params={"limit": 2, "kind": "speak", "cursor": first["next_cursor"]}
    ).json()
    ids = [j["id"] for j in first["jobs"] + rest["jobs"]]
    assert len(ids) == len(set(ids)) >= 3
    done = client.get("/v1/jobs", params={"status": "succeeded,failed"}).json()
    assert all(j["status"] in ("succeeded", "failed") for j in done["jobs"])


class _Recorder(ThreadingHTTPServer):
    """A local HTTP server recording POSTs; answers the first ``fail_first`` with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[dict] = []
        self.fail_first = fail_first
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(json.loads(data))
                status = 500 if len(outer.posts) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 200:
                    outer.got.set()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def test_callback_is_posted_once_the_job_ends_and_retried_on_failure(client):
    hook = _Recorder(fail_first=1)
    try:
        r = client.post(
            "/v1/jobs",
            json={"kind": "speak", "input": {"text": "Call me back."}, "callback_url": hook.url},
        )
        assert r.status_code == 202
        assert hook.got.wait(60), "no callback delivered"
        assert len(hook.posts) == 2  # one 500, then the delivery after the back-off
        job = hook.posts[-1]["job"]
        assert job["id"] == r.json()["id"] and job["status"] == "succeeded"
    finally:
        hook.shutdown()


# --------------------------------------------------------------------------- uploads


def test_upload_is_stored_with_its_sha256_and_sniffed_type(client, service):
    wav = DATA / "en_dev" / "LJ001-0008.wav"
    with wav.open("rb") as fh:
        r = client.post("/v1/files", files={"file": ("talk.bin", fh, "text/plain")})
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert info["size"] == wav.stat().st_size
    assert info["content_type"] == "audio/wav"  # sniffed, whatever the client said
    assert client.get(f"/v1/files/{info['id']}").json()["sha256"] == info["sha256"]
    job = client.post("/v1/jobs", json={"kind": "probe", "input": {"path": info["id"]}}).json()
    end = _follow(client, job["id"])[-1][1]
    assert end["status"] == "succeeded", end
    with wave.open(str(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert end["result"]["duration"] == pytest.approx(seconds, abs=0.05)


def test_upload_that_is_not_media_is_415(client, service):
    r = client.post("/v1/files", files={"file": ("x.mp4", b"\x00\x01\x02" * 100, "video/mp4")})
    assert r.status_code == 415
    assert _error(r)["type"] == "MediaError"
    assert client.get("/v1/files/file-000000000000000000000000").status_code == 404


# --------------------------------------------------------------------------- limits


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """No worker, API keys, private URLs refused (through an injected resolver that
    records what it is asked), tiny limits."""
    svc = start_service(
        tmp_path_factory.mktemp("guarded"),
        keys=["k-g"],
        worker=False,
        allow_private_urls=False,
        max_file_bytes=2000,
        max_json_bytes=4000,
        max_queue=3,
    )
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return {"internal.test": ["10.1.2.3"], "public.test": ["93.184.216.34"]}.get(host, [])

    svc.app.state.resolver = resolver
    svc.asked = asked
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def gclient(guarded):
    with httpx.Client(
        base_url=guarded.url, timeout=30, headers={"Authorization": "Bearer k-g"}
    ) as c:
        yield c


def _uploads(svc) -> list[Path]:
    return [p for p in Path(svc.config.uploads_dir).rglob("*") if p.is_file()]


def test_upload_over_the_limit_is_413_and_leaves_nothing(gclient, guarded):
    r = gclient.post("/v1/files", files={"file": ("a.wav", b"RIFF" + b"\x01" * 5000)})
    assert r.status_code == 413
    assert _error(r)["type"] == "TooLargeError"

    def chunks():  # no Content-Length: counted as it arrives
        yield b"--xx\r\nContent-Disposition: form-data; name=file; filename=a.wav\r\n\r\n"
        for _ in range(10):
            yield b"RIFF" + b"\x01" * 500
        yield b"\r\n--xx--\r\n"

    r = gclient.post(
        "/v1/files", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xx"}
    )
    assert r.status_code == 413
    assert _uploads(guarded) == []


def test_json_body_over_the_limit_is_413(gclient):
    r = gclient.post("/v1/jobs", json={"kind": "speak", "input": {"text": "x" * 5000}})
    assert r.status_code == 413


def test_private_urls_are_refused_without_any_request(gclient, guarded):
    for url in ("http://internal.test/a.mp4", "http://127.0.0.1:9/a.mp4", "ftp://public.test/a"):
        r = gclient.post("/v1/jobs", json={"kind": "probe", "input": {"path": url}})
        assert r.status_code in (403, 400), r.text
        assert r.status_code == (400 if url.startswith("ftp") else 403)
    assert (
        "private"
        in _error(
            r := gclient.post(
                "/v1/jobs",
                json={
                    "kind": "speak",
                    "input": {"text": "x"},
                    "callback_url": "http://internal.test/h",
                },
            )
        )["message"]
    )
    assert r.status_code == 403
    assert guarded.asked.count("internal.test") == 2  # resolved and refused, never fetched
    assert _uploads(guarded) == []


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("images", {"generator": "folder:/etc"}),
        ("speak", {"voice": "/etc/passwd"}),
        ("speak", {"voice": "../../voices/x.onnx"}),
        ("summarize", {"llm_base": "http://internal.test/v1"}),
        ("transcribe", {"model": "Systran/faster-whisper-large-v3"}),  # a hub download
        ("embed", {"model": "wav2vec2:/etc"}),  # an encoder folder outside the roots
    ],
)
def test_params_cannot_reach_past_the_roots_or_the_url_policy(gclient, kind, params):
    r = gclient.post("/v1/jobs", json={"kind": kind, "params": params, "input": {"text": "x"}})
    assert r.status_code == 403, r.text
    assert _error(r)["type"] == "ForbiddenError"


def test_an_encoder_folder_inside_the_roots_is_accepted(gclient, guarded):
    # embed's model names its folder after the encoder kind: the folder is what is checked
    root = Path(guarded.config.media_roots[0])
    (root / "w2v").mkdir(parents=True, exist_ok=True)
    r = gclient.post(
        "/v1/jobs",
        json={
            "kind": "embed",
            "params": {"model": f"wav2vec2:{root / 'w2v'}"},
            "input": {"media_id": 1},
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["model"].startswith("wav2vec2:")
    gclient.post(f"/v1/jobs/{r.json()['id']}/cancel")


def test_queue_full_is_429_with_retry_after(gclient):
    made = []
    for i in range(10):
        r = gclient.post("/v1/jobs", json={"kind": "speak", "input": {"text": f"Q {i}."}})
        if r.status_code == 429:
            break
        assert r.status_code == 202
        made.append(r.json()["id"])
    assert r.status_code == 429, "the queue never filled"
    assert int(r.headers["retry-after"]) > 0
    assert _error(r)["type"] == "BusyError"
    # cancel and retry without a worker: queued -> canceled -> queued again
    r = gclient.post(f"/v1/jobs/{made[0]}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert r.json()["error"]["error_class"] == "Canceled"
    r = gclient.post(f"/v1/jobs/{made[0]}/retry")
    assert r.status_code == 202 and r.json()["status"] == "queued"
    for jid in made:
        gclient.post(f"/v1/jobs/{jid}/cancel")


def test_non_loopback_bind_without_keys_refuses_to_start(tmp_path):
    env = {**os.environ, "VIDPIPE_HOME": str(tmp_path), "VIDPIPE_SERVICE_KEYS": ""}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    r = subprocess.run(
        [sys.executable, "-m", "vidpipe", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in r.stderr
    assert "Traceback" not in r.stderr


def test_hundred_concurrent_requests(service_url):
    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=service_url, timeout=60) as c:
            paths = ["/health", "/v1/jobs?limit=5", "/ready", "/metrics"] * 25
            rs = await asyncio.gather(*(c.get(p) for p in paths))
            return [r.status_code for r in rs]

    assert asyncio.run(main()) == [200] * 100


def test_metrics_count_jobs_and_requests(spoken, client):
    text = client.get("/metrics").text
    succeeded = re.search(r'^vidpipe_jobs\{status="succeeded"\} (\S+)$', text, re.M)
    assert succeeded and float(succeeded.group(1)) >= 1
    assert re.search(r'^vidpipe_job_duration_seconds_count\{kind="speak"\} [1-9]', text, re.M)
    assert re.search(r"^vidpipe_queue_depth \S+$", text, re.M)
    assert 'route="/v1/jobs/{job_id}"' in text


def test_one_json_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="vidpipe.service.access"):
        client.get("/v1/jobs/not-a-job", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if "log-me" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0]["route"] == "/v1/jobs/{job_id}" and lines[0]["status"] == 404
    assert lines[0]["duration_ms"] >= 0


def test_shutdown_releases_the_running_job(tmp_path):
    svc = start_service(tmp_path, worker_stop_timeout=0.2)
    text = " ".join(f"Sentence number {i} is read aloud by the voice." for i in range(60))
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        jid = c.post("/v1/jobs", json={"kind": "speak", "input": {"text": text}}).json()["id"]
        for _ in range(600):
            job = c.get(f"/v1/jobs/{jid}").json()
            if job["status"] == "running" and job["progress"] > 0:
                break
            time.sleep(0.05)
        assert job["status"] == "running"
    svc.stop()
    job = svc.app.state.store.get(jid)
    assert job.status == "queued" and job.owner is None
    assert job.attempts == 0  # released, not counted as a failed attempt


# --------------------------------------------------------------------------- external workers

REDIS_URL = "redis://127.0.0.1:6379/12"  # this suite's Redis database number
FAST_WORKER = ["--lease", "3", "--reap-every", "0.5", "--grace", "1", "--stop-timeout", "5"]


def _worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vidpipe", "worker", *FAST_WORKER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_worker_killed_mid_job_the_job_still_succeeds(tmp_path, new_pg_url):
    """--no-worker mode: Redis queue, PostgreSQL catalog, ``vidpipe worker`` processes."""
    redis = pytest.importorskip("redis")
    rc = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        rc.ping()
    except Exception as exc:
        pytest.skip(f"Redis not answering at {REDIS_URL}: {type(exc).__name__}")
    rc.flushdb()
    db = new_pg_url()
    home = tmp_path / "home"
    svc = start_service(home, worker=False, database_url=db, queue_url=REDIS_URL)
    env = {
        **os.environ,
        "VIDPIPE_HOME": str(home),
        "VIDPIPE_STORAGE": str(home),
        "VIDPIPE_DATABASE_URL": db,
        "VIDPIPE_QUEUE_URL": REDIS_URL,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    first = second = None
    text = " ".join(f"Sentence number {i} is read aloud by the voice." for i in range(40))
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            assert c.get("/ready").status_code == 503  # no worker yet
            jid = c.post("/v1/jobs", json={"kind": "speak", "input": {"text": text}}).json()["id"]
            first = _worker(env)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = c.get(f"/v1/jobs/{jid}").json()
                if job["status"] == "running" and job["progress"] > 0:
                    break
                time.sleep(0.1)
            assert job["status"] == "running", job
            ready = c.get("/ready")
            assert ready.status_code == 200 and ready.json()["workers"] == 1
            first.kill()  # SIGKILL: no release, the lease has to expire
            first.wait(10)
            second = _worker(env)
            end = _follow(c, jid)[-1][1]
            assert end["status"] == "succeeded", end
            assert end["attempts"] == 2  # the killed run counted, the second one finished
            wav = next(a for a in end["artifacts"] if a["name"] == "speech.wav")
            assert c.get(wav["url"]).content[:4] == b"RIFF"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        svc.stop()
        rc.flushdb()


def test_a_response_not_started_in_time_is_504_and_streams_are_not_cut(tmp_path):
    from conftest import service_config
    from vidpipe.service.middleware import ServiceMiddleware

    async def slow(scope, receive, send):
        import anyio

        if scope["path"] == "/slow":
            await anyio.sleep(5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):  # a body that takes longer than the timeout, once started
            await anyio.sleep(0.2)
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    app = ServiceMiddleware(slow, service_config(tmp_path, request_timeout=0.3))

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/slow"), await c.get("/stream")

    late, stream = asyncio.run(main())
    assert late.status_code == 504
    assert _error(late)["type"] == "Timeout"
    assert stream.status_code == 200 and stream.content == b"xxx"


def test_two_services_in_one_process_each_run_their_own_jobs(tmp_path, client):
    other = start_service(tmp_path)
    try:
        with httpx.Client(base_url=other.url, timeout=30) as c:
            jid = c.post("/v1/jobs", json={"kind": "speak", "input": {"text": "Other."}}).json()
            assert _follow(c, jid["id"])[-1][1]["status"] == "succeeded"
        assert client.get(f"/v1/jobs/{jid['id']}").status_code == 404  # not in this catalog
    finally:
        other.stop()
    mine = client.post("/v1/jobs", json={"kind": "speak", "input": {"text": "Mine."}}).json()
    assert _follow(client, mine["id"])[-1][1]["status"] == "succeeded"


def test_url_inputs_become_download_jobs_not_handler_fetches(client, tmp_path):
    """A URL in a job's input is fetched by a ``download`` job that the job depends on
    (issue 18), not by the request handler; a 404 fails the job with the download's
    reason."""
    import shutil

    from servers.http_media import MediaServer

    root = tmp_path / "srv"
    root.mkdir()
    shutil.copy(DATA / "jfk.flac", root / "jfk.flac")
    with MediaServer(root) as srv:
        ok = client.post("/v1/jobs", json={"kind": "probe", "input": {"path": srv.url("jfk.flac")}})
        bad = client.post(
            "/v1/jobs",
            json={"kind": "probe", "input": {"path": srv.url("jfk.flac", fault="404")}},
        )
        assert ok.status_code == bad.status_code == 202, (ok.text, bad.text)
        for r in (ok, bad):
            job = r.json()
            assert len(job["depends_on"]) == 1 and job["input"]["path"].startswith("job:")
            dep = client.get(f"/v1/jobs/{job['depends_on'][0]}").json()
            assert dep["kind"] == "download"
        ends = {}
        for name, r in (("ok", ok), ("bad", bad)):
            events = _follow(client, r.json()["id"])
            ends[name] = events[-1][1]
    assert ends["ok"]["status"] == "succeeded", ends["ok"]
    assert ends["ok"]["result"]["duration"] > 10.0
    assert ends["bad"]["status"] == "failed"
    assert "404" in json.dumps(ends["bad"]["error"])
