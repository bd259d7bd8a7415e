"""Server paths and URL inputs of the service (issue 12): media roots with symlinks
followed, ``..`` refused, private addresses refused with the resolver asked and no
connection made. Issue 18 on real servers: every param that names something checked at
any depth (one walker over the options model), bad text and names 400 (never 500), URL
secrets redacted in answers, logs and ``vidpipe jobs show``, IPv6 forms carrying IPv4,
the queue cap under concurrency, slow clients cut off, every error the JSON shape."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel

from conftest import start_service
from vidpipe.errors import ForbiddenError, NotFoundError, UsageError
from vidpipe.service.security import check_server_path, check_url, url_policy
from vidpipe.types import Names, ParamsOf


@pytest.fixture
def roots(tmp_path):
    media = tmp_path / "media"
    uploads = tmp_path / "uploads"
    for d in (media, uploads, media / "sub"):
        d.mkdir(parents=True, exist_ok=True)
    (media / "sub" / "a.wav").write_bytes(b"RIFF")
    (uploads / "b.png").write_bytes(b"\x89PNG")
    (tmp_path / "secret.txt").write_text("no")
    return [media, uploads]


def test_files_inside_the_roots(roots):
    media, uploads = roots
    assert check_server_path(str(media / "sub" / "a.wav"), roots) == media / "sub" / "a.wav"
    assert check_server_path(str(uploads / "b.png"), roots) == uploads / "b.png"
    assert check_server_path("sub/a.wav", roots) == media / "sub" / "a.wav"  # first root


@pytest.mark.parametrize(
    "given",
    ["{tmp}/secret.txt", "/etc/passwd", "{media}/../secret.txt", "../secret.txt",
     "sub/../../secret.txt", "{media}/sub/..\\..\\secret.txt"],
)  # fmt: skip
def test_outside_or_dotdot_is_forbidden(roots, given):
    media = roots[0]
    path = given.format(tmp=media.parent, media=media)
    with pytest.raises(ForbiddenError) as err:
        check_server_path(path, roots)
    assert path in err.value.message
    assert "media roots" in err.value.hint


def test_symlinks_are_followed(roots):
    media = roots[0]
    (media / "out.txt").symlink_to(media.parent / "secret.txt")
    with pytest.raises(ForbiddenError, match="outside the media roots") as err:
        check_server_path(str(media / "out.txt"), roots)
    assert "secret" not in err.value.message  # the link's target is not revealed
    (media.parent / "elsewhere").mkdir()
    (media.parent / "elsewhere" / "in.wav").symlink_to(media / "sub" / "a.wav")
    # a link from outside into a root is judged by where it leads
    assert check_server_path(str(media.parent / "elsewhere" / "in.wav"), roots) == (
        media / "sub" / "a.wav"
    )


def test_missing_folder_and_bad_paths(roots):
    media = roots[0]
    with pytest.raises(NotFoundError, match="does not exist"):
        check_server_path(str(media / "nope.wav"), roots)
    with pytest.raises(NotFoundError, match="not a file"):
        check_server_path(str(media / "sub"), roots)
    with pytest.raises(UsageError):
        check_server_path("", roots)
    with pytest.raises(UsageError):
        check_server_path("a\x00b", roots)
    with pytest.raises(ForbiddenError, match="not allowed"):
        check_server_path(str(media / "sub" / "a.wav"), [])


def _resolver(table):
    asked = []

    async def resolve(host, port):
        asked.append((host, port))
        return table[host]

    return resolve, asked


@pytest.mark.parametrize(
    ("url", "addresses", "why"),
    [
        ("http://127.0.0.1:8080/v.mp4", None, "loopback"),
        ("http://[::1]/v.mp4", None, "loopback"),
        ("http://lan.test/v.mp4", ["192.168.1.20"], "private"),
        ("https://meta.test/v.mp4", ["169.254.169.254"], "link-local"),
        ("http://mcast.test/v.mp4", ["239.1.1.1"], "multicast"),
        ("http://res.test/v.mp4", ["240.0.0.1"], "reserved"),
        ("http://mixed.test/v.mp4", ["93.184.216.34", "10.0.0.1"], "private"),
        ("http://mapped.test/v.mp4", ["::ffff:10.0.0.1"], "private"),
    ],
)
def test_private_addresses_are_refused(url, addresses, why):
    host = url.split("//")[1].split("/")[0].split(":")[0]
    resolve, asked = _resolver({host: addresses or []})
    with pytest.raises(ForbiddenError, match=why):
        asyncio.run(check_url(url, url_policy(False, resolve)))
    assert asked == ([] if addresses is None else [(host, 443 if url.startswith("https") else 80)])


def test_public_and_allowed_urls_pass():
    resolve, asked = _resolver({"cdn.test": ["93.184.216.34"]})
    clean = asyncio.run(check_url("HTTP://CDN.test:80/a b.mp4", url_policy(False, resolve)))
    assert clean == "http://cdn.test/a%20b.mp4"
    resolve, asked = _resolver({})
    assert asyncio.run(check_url("http://127.0.0.1/x.mp4", url_policy(True, resolve)))
    assert asked == []  # allowed: nothing resolved


def test_bad_schemes_and_unresolvable_hosts():
    resolve, _ = _resolver({})
    for url in ("file:///etc/passwd", "ftp://host/x.mp4", "gopher://x", "not a url"):
        with pytest.raises(UsageError):
            asyncio.run(check_url(url, url_policy(False, resolve)))

    async def fails(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(UsageError, match="cannot resolve"):
        asyncio.run(check_url("http://nowhere.test/x.mp4", url_policy(False, fails)))


# --------------------------------------------------------------------------- issue 18: the
# options walker, no 500s, redaction, address forms, queue cap, slow clients, error shape

S = "a\ud800"  # a lone surrogate: valid JSON (an escape), not valid Unicode text


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"type", "message", "hint", "request_id"} <= set(body["error"])
    assert r.headers["content-type"].startswith("application/json")
    return body["error"]


def _post(c: httpx.Client, path: str, body: dict) -> httpx.Response:
    # json.dumps keeps a lone surrogate as a \ud800 escape (httpx's json= would fail)
    return c.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """API keys, no worker, private URLs refused with an injected resolver."""
    home = tmp_path_factory.mktemp("sec")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "imgs").mkdir()
    (outside / "imgs" / "x.png").write_bytes(b"\x89PNG")
    svc = start_service(home, keys=["k-s"], worker=False, allow_private_urls=False)
    table = {
        "public.test": ["93.184.216.34"],
        "sixtofour.test": ["2002:7f00:1::1"],
        "sitelocal.test": ["fec0::1"],
        "teredo.test": ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
    }

    async def resolver(host: str, port: int) -> list[str]:
        return table.get(host, [])

    svc.app.state.resolver = resolver
    svc.outside = outside
    (Path(svc.config.media_roots[0]) / "a.png").write_bytes(b"\x89PNG")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def sc(svc):
    with httpx.Client(base_url=svc.url, timeout=30, headers={"Authorization": "Bearer k-s"}) as c:
        yield c


OUTSIDE = "is outside the media roots"


@pytest.mark.parametrize(
    ("params", "field", "why"),
    [
        ({"images": "folder:{out}/imgs"}, "params.images", OUTSIDE),
        ({"render": {"font": "/etc/passwd"}}, "params.render.font", OUTSIDE),
        ({"render": {"font": "/etc/no-such-font.ttf"}}, "params.render.font", OUTSIDE),
        ({"render": {"font": "{out}/imgs/x.png"}}, "params.render.font", OUTSIDE),
        ({"voice": "{out}/v.onnx"}, "params.voice", OUTSIDE),
        ({"model": "{out}/imgs"}, "params.model", OUTSIDE),
        ({"model": "Systran/faster-whisper-large-v3"}, "params.model", "downloads no models"),
        ({"llm_base": "http://sixtofour.test/v1"}, "params.llm_base", "loopback (6to4 127.0.0.1)"),
        ({"image_base": "http://sitelocal.test/"}, "params.image_base", "site-local"),
        ({"llm_base": "http://teredo.test/v1"}, "params.llm_base", "loopback (Teredo 127.0.0.1)"),
    ],
)
def test_narrate_params_are_checked_at_any_depth(sc, svc, params, field, why):
    text = json.dumps(params).replace("{out}", str(svc.outside))
    body = {"kind": "narrate", "params": json.loads(text), "input": {"text": "x"}}
    r = sc.post("/v1/jobs", json=body)
    assert r.status_code == 403, r.text
    err = _error(r)
    assert err["type"] == "ForbiddenError" and err["message"].startswith(field + ": ")
    assert why in err["message"]
    assert svc.app.state.store.counts()["queued"] == 0  # nothing stored


def test_an_existing_and_a_missing_outside_file_get_the_same_answer(sc):
    answers = []
    for font in ("/etc/passwd", "/etc/no-such-file"):
        body = {"kind": "render", "params": {"font": font}, "input": {"images": []}}
        r = sc.post("/v1/jobs", json=body)
        answers.append((r.status_code, _error(r)["message"].replace(font, "F")))
    assert answers[0] == answers[1] == (403, "params.font: F is outside the media roots")


def test_symlink_targets_and_homes_are_not_revealed(sc, svc):
    root = Path(svc.config.media_roots[0])
    link = root / "link.wav"
    link.symlink_to(svc.outside / "imgs" / "x.png")
    r = sc.post("/v1/jobs", json={"kind": "probe", "input": {"path": str(link)}})
    assert r.status_code == 403 and str(svc.outside) not in r.text
    r = sc.post("/v1/jobs", json={"kind": "probe", "input": {"path": "~root/x.wav"}})
    assert r.status_code == 400 and "/root" not in r.text


def test_relative_names_resolve_in_the_first_root_not_the_working_folder(
    sc, svc, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cwd.onnx").write_bytes(b"onnx")  # in the server's working folder only
    r = sc.post(
        "/v1/jobs", json={"kind": "speak", "params": {"voice": "cwd.onnx"}, "input": {"text": "x"}}
    )
    assert r.status_code == 404, r.text
    assert _error(r)["message"] == "params.voice: cwd.onnx does not exist"
    root = Path(svc.config.media_roots[0])
    (root / "voices").mkdir(exist_ok=True)
    (root / "voices" / "v.onnx").write_bytes(b"onnx")
    r = sc.post(
        "/v1/jobs",
        json={"kind": "narrate", "params": {"voice": "voices/v.onnx"}, "input": {"text": "x"}},
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["voice"] == str((root / "voices" / "v.onnx").resolve())
    sc.post(f"/v1/jobs/{r.json()['id']}/cancel")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/jobs", {"kind": "probe", "input": {"path": S}}, "input.path"),
        ("/v1/jobs", {"kind": S, "input": {"path": "a.png"}}, "kind"),
        ("/v1/jobs", {"kind": "speak", "params": {"voice": S}, "input": {"text": "x"}}, "params.voice"),  # noqa: E501
        ("/v1/jobs", {"kind": "render", "input": {"images": [S]}}, "input.images[0]"),
        ("/v1/jobs", {"kind": "speak", "params": {"voice": "a\x00b"}, "input": {"text": "x"}}, "params.voice"),  # noqa: E501
        ("/v1/jobs", {"kind": "probe", "input": {"path": "~nosuchuser/x.wav"}}, "input.path"),
        ("/v1/jobs", {"kind": "probe", "input": {"path": "n" * 300 + ".wav"}}, "input.path"),
        ("/generateVideo", {"image_paths": [S], "audio_path": "a.png"}, "image_paths[0]"),
        ("/generateVideo", {"image_paths": ["a.png"], "audio_path": S}, "audio_path"),
    ],
)  # fmt: skip
def test_bad_text_and_names_are_400_never_500(sc, caplog, path, body, field):
    caplog.set_level(logging.INFO)
    r = _post(sc, path, body)
    assert r.status_code == 400, r.text
    err = _error(r)
    assert err["type"] == "UsageError" and err["message"].startswith(field + ": ")
    assert "Traceback" not in caplog.text and "InternalError" not in caplog.text


def test_a_cursor_past_any_offset_or_a_nul_in_the_url_is_400(sc):
    r = sc.get("/v1/items", params={"cursor": "88105562057232563406"})
    assert r.status_code == 400 and _error(r)["message"].startswith("bad cursor")
    for url in ("/v1/jobs/a%00b", "/v1/items?text=a%00b", "/v1/jobs?cursor=%00"):
        r = sc.get(url)  # PostgreSQL cannot even look such a value up
        assert r.status_code == 400 and _error(r)["message"] == "a NUL byte in the URL"


class _Inner(BaseModel):
    font: Annotated[str | None, Names("font")] = None
    endpoint: str | None = None  # unmarked: checked only when it holds a URL


class _Future(BaseModel):
    """Options a future stage might have."""

    voice: Annotated[str | None, Names("voice")] = None
    layers: list[_Inner] = []
    extra: Annotated[dict[str, Any], ParamsOf(lambda: _Inner)] = {}
    files: list[Annotated[str, Names("file")]] = []


def test_unmarked_urls_and_nested_models_are_walked_too():
    """The walker follows the options model, not field names: a future stage's nested
    model, list of models or dict of another model's params is checked the same way."""
    from vidpipe.service.security import check_options

    seen: list[tuple[str, str, str]] = []

    async def visit(kind, value, where):
        seen.append((kind, value, where))
        return value.upper()

    params = {
        "voice": "v",
        "layers": [{"font": "f1"}, {"endpoint": "http://x.test/", "font": None}],
        "extra": {"font": "f2", "endpoint": "plain"},
        "files": ["a", "b"],
    }
    out = asyncio.run(check_options(_Future, params, visit))
    assert seen == [
        ("voice", "v", "params.voice"),
        ("font", "f1", "params.layers[0].font"),
        ("url", "http://x.test/", "params.layers[1].endpoint"),
        ("font", "f2", "params.extra.font"),
        ("file", "a", "params.files[0]"),
        ("file", "b", "params.files[1]"),
    ]
    assert out["extra"] == {"font": "F2", "endpoint": "plain"} and out["files"] == ["A", "B"]


#: option fields that name nothing outside the job (a new string field must be marked
#: with Names/ParamsOf or added here, so that the service checks what it names)
PLAIN_STR_FIELDS = {
    "transcribe": {"language", "zh_script"},
    "summarize": {"llm_model", "language", "zh_script"},
    "chapters": {"llm_model", "language", "zh_script"},
    "topics": {"llm_model", "language"},
    "describe": {"vlm_model", "language"},
    "speak": {"language"},
    "images": {"language", "image_model", "llm_model"},
    "render": {"output", "transition", "motion", "fit", "subtitles", "preset", "style"},
    "narrate": {"output", "language", "image_model", "llm_model"},
}


def test_every_string_option_of_every_stage_is_marked_or_known_plain():
    from vidpipe.pipeline.registry import STAGES
    from vidpipe.types import Names, ParamsOf

    for name, stage in STAGES.items():
        for field, info in stage.Options.model_fields.items():
            if any(isinstance(m, Names | ParamsOf) for m in info.metadata):
                continue
            text = str(info.annotation)  # a Literal is a fixed choice: it names nothing
            if "Literal" not in text and any(t in text for t in ("str", "dict", "Any")):
                assert field in PLAIN_STR_FIELDS.get(name, set()), (name, field)


# --------------------------------------------------------------------------- queue cap


def _create_concurrently(store, n: int, cap: int) -> tuple[int, int]:
    from concurrent.futures import ThreadPoolExecutor

    from vidpipe.errors import BusyError

    def one(i: int) -> bool:
        try:
            store.create("speak", {}, input={"text": f"t{i}"}, max_backlog=cap)
            return True
        except BusyError:
            return False

    with ThreadPoolExecutor(n) as pool:
        made = list(pool.map(one, range(n)))
    return sum(made), store.counts()["queued"] + store.counts()["waiting"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_the_queue_cap_holds_under_concurrent_creates(db, tmp_path, request):
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    url = (
        f"sqlite:///{tmp_path / 'c.db'}"
        if db == "sqlite"
        else request.getfixturevalue("new_pg_url")()
    )
    catalog = Catalog(url)
    try:
        store = JobStore(catalog, root=tmp_path)
        assert _create_concurrently(store, 24, 7) == (7, 7)
    finally:
        catalog.close()


def test_concurrent_submits_never_pass_max_queue(tmp_path):
    svc = start_service(tmp_path, worker=False, max_queue=6)
    try:

        async def main() -> list[int]:
            async with httpx.AsyncClient(base_url=svc.url, timeout=60) as c:
                body = {"kind": "speak", "input": {"text": "x"}}
                rs = await asyncio.gather(*(c.post("/v1/jobs", json=body) for _ in range(30)))
                return [r.status_code for r in rs]

        codes = asyncio.run(main())
        assert codes.count(202) == 6 and codes.count(429) == 24
        assert svc.app.state.store.counts()["queued"] == 6
    finally:
        svc.stop()


# --------------------------------------------------------------------------- a real server process


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``vidpipe serve`` in its own process (embedded worker, 1 s header and body
    deadlines, private URLs allowed for the loopback test servers); its log (stdout and
    stderr) goes to ``log``."""
    import os
    import socket
    import subprocess
    import sys
    import time

    home = tmp_path_factory.mktemp("served")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "VIDPIPE_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "VIDPIPE_SERVICE_HEADER_TIMEOUT": "1",
        "VIDPIPE_SERVICE_BODY_TIMEOUT": "1",
        "VIDPIPE_SERVICE_BODY_MIN_RATE": "1000",
        "VIDPIPE_ALLOW_PRIVATE_URLS": "1",
    }
    log = home / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidpipe", "serve", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    try:
        yield type("Served", (), {"url": url, "port": port, "home": home, "log": log, "env": env})
    finally:
        proc.terminate()
        proc.wait(30)


def test_slow_headers_are_cut_off_after_the_header_timeout(served):
    import socket
    import time

    socks = []
    for _ in range(50):  # slow loris: headers a line at a time, never finished
        s = socket.create_connection(("127.0.0.1", served.port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    start, open_ = time.monotonic(), len(socks)
    while open_ and time.monotonic() - start < 8:
        time.sleep(0.3)
        open_ = 0
        for s in socks:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                open_ += 1
            except OSError:
                pass
    took = time.monotonic() - start
    for s in socks:
        s.close()
    assert open_ == 0, f"{open_} slow connections still open after {took:.1f} s"
    assert httpx.get(served.url + "/health").status_code == 200  # the server still serves


def test_a_slow_body_is_408_in_the_json_shape(served):
    import socket
    import time

    s = socket.create_connection(("127.0.0.1", served.port))
    s.sendall(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    s.settimeout(0.3)
    got, start = b"", time.monotonic()
    while time.monotonic() - start < 8:  # a byte every 0.3 s: far under 1000 bytes/s
        try:
            data = s.recv(65536)
            if not data:
                break
            got += data
        except TimeoutError:
            try:
                s.sendall(b" ")
            except OSError:
                break
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), got[:200]
    assert json.loads(body)["error"]["type"] == "Timeout"
    assert time.monotonic() - start < 6


def test_url_secrets_reach_no_answer_log_or_cli(served, tmp_path):
    import json
    import subprocess
    import sys
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    secret = f"http://dave:Hunter2xyz@127.0.0.1:{httpd.server_port}/a.mp4?token=SECRETTOK"
    try:
        with httpx.Client(base_url=served.url, timeout=30) as c:
            # the URL is fetched by a download job (issue 18), whose 404 fails the probe
            r = c.post("/v1/jobs", json={"kind": "probe", "input": {"path": secret}})
            assert r.status_code == 202, r.text
            assert "Hunter2xyz" not in r.text and "SECRETTOK" not in r.text
            probe_id = r.json()["id"]
            for _ in range(600):
                probe = c.get(f"/v1/jobs/{probe_id}").json()
                if probe["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.1)
            assert probe["status"] == "failed", probe
            down = c.get(f"/v1/jobs/{probe['depends_on'][0]}").text
            assert "dave:***@" in down and "token=***" in down, down
            body = {"kind": "summarize", "params": {"llm_base": secret}, "input": {"media_id": 9}}
            r = c.post("/v1/jobs", json=body)
            assert r.status_code == 202, r.text
            jid = r.json()["id"]
            shown = c.get(f"/v1/jobs/{jid}").text
            assert "dave:***@" in shown
    finally:
        httpd.shutdown()
    cli = subprocess.run(
        [sys.executable, "-m", "vidpipe", "jobs", "show", jid],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0 and "dave:***@" in cli.stdout
    log = served.log.read_text()
    assert "HTTP Request: GET http://dave:***@" in log  # httpx's own INFO line, redacted
    leaks = [shown, down, json.dumps(probe), cli.stdout + cli.stderr, log, r.text]
    leaks += [
        p.read_text(errors="replace")
        for p in served.home.rglob("*")
        if p.is_file() and ".db" not in p.name
    ]
    for text in leaks:
        assert "Hunter2xyz" not in text and "SECRETTOK" not in text


def test_range_errors_are_the_json_error_shape(served):
    import time

    from conftest import DATA

    with httpx.Client(base_url=served.url, timeout=30) as c:
        up = c.post("/v1/files", files={"file": ("jfk.flac", (DATA / "jfk.flac").read_bytes())})
        assert up.status_code in (200, 201), up.text
        r = c.post("/v1/jobs", json={"kind": "audio", "input": {"path": up.json()["id"]}})
        jid = r.json()["id"]
        for _ in range(600):
            job = c.get(f"/v1/jobs/{jid}").json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        url = job["artifacts"][0]["url"]
        assert c.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        r = c.get(url, headers={"Range": "bytes=5-1"})
        assert r.status_code == 400 and _error(r)["type"] == "BadRequest"
        r = c.get(url, headers={"Range": "bytes=999999999-"})
        assert r.status_code == 416 and _error(r)["type"] == "RequestedRangeNotSatisfiable"
        assert r.headers["content-range"].startswith("bytes */")
