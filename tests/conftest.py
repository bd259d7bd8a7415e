"""Shared test fixtures: where the test media lives, and a guard against hangs.

``DATA`` is the project's own copies (``tests/data``, see ``tests/data/SOURCES.md``).
``SHARED`` is the larger evaluation set in ``../shared/data`` beside the repository
(override with ``VIDPIPE_SHARED_DATA``); tests that need it take the ``shared_data``
fixture and are skipped when it is absent.

PostgreSQL: ``pg_url`` is a fresh database ``vidpipe_test_<pid>`` on ``$VIDPIPE_TEST_PG``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` as the admin connection),
created for the session and dropped at the end; ``new_pg_url`` makes another empty one
per call (dropped at the end of the test). Both skip when PostgreSQL is not reachable.

Garbage collection: once the tests are collected (every test module, torch, the models'
libraries imported: some 400,000 objects for the whole suite) they are moved to the
collector's permanent generation (``gc.freeze``). ``decode_audio`` runs a full
``gc.collect()`` per file (the resampler's reference cycles); without the freeze each of
those walked the whole imported heap: 0.23 s of CPU a call (measured, 419,000 objects).
Objects made while the tests run are collected as before; between modules, when many
have piled up, all is collected once (frozen objects included) and frozen again.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
SHARED = Path(
    os.environ.get("VIDPIPE_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)

#: Seconds a single media call may take before a test calls it a hang.
HANG_LIMIT = 20.0


#: Unfrozen objects above which the collector's state is renewed between test modules.
REFREEZE_OBJECTS = 100_000
_gc_module: list[str] = [""]


#: The test modules that take longest (minutes of a full run), run first. The README runs
#: the suite in two processes with ``--dist loadfile``: each process takes the next whole
#: module in this order, so the long ones start early and the short ones fill the end
#: (in alphabetical order test_wer and test_web, two of the longest, ran last, one
#: process working on for minutes while the other had nothing left).
LONG_MODULES = (
    "test_wer.py", "test_web.py", "test_realtime.py", "test_embed.py",
    "test_service_packing.py", "test_speakers_known.py", "test_queue.py", "test_packing.py",
    "test_transcribe_bad_input.py", "test_runner.py", "test_understanding.py",
    "test_concurrency.py", "test_web_search_cjk.py", "test_queue_benchmark.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long modules first (:data:`LONG_MODULES`), the rest in their usual order."""
    rank = {name: n for n, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection imported: later full collections skip it (module doc)."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Once the first test of a module is set up (the previous module's fixtures are gone,
    this one's made): when more than :data:`REFREEZE_OBJECTS` objects are not frozen,
    unfreeze, collect all (frozen garbage is freed too: nothing leaks for good) and
    freeze what is left."""
    try:
        return (yield)
    finally:
        module = item.nodeid.split("::", 1)[0]
        if module != _gc_module[0]:
            _gc_module[0] = module
            if len(gc.get_objects()) > REFREEZE_OBJECTS:
                gc.unfreeze()
                gc.collect()
                gc.freeze()


PG_ADMIN = os.environ.get("VIDPIPE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_serial = itertools.count()


class _PgDatabases:
    """Creates empty PostgreSQL databases on :data:`PG_ADMIN` and drops them on close."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine

        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, tag: str) -> str:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = f"vidpipe_test_{os.getpid()}{tag}"
        try:
            with self.admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(text(f"CREATE DATABASE {name}"))
        except Exception as exc:
            pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}")
        self.names.append(name)
        return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of one PostgreSQL database for the session (one per test process)."""
    dbs = _PgDatabases()
    try:
        yield dbs.create("")
    finally:
        dbs.close()


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """URL of one PostgreSQL database for the test module (modules never share data)."""
    dbs = _PgDatabases()
    try:
        yield dbs.create(f"_m{next(_pg_serial)}")
    finally:
        dbs.close()


@pytest.fixture
def new_pg_url() -> Iterator[Callable[[], str]]:
    """A function returning the URL of a new empty PostgreSQL database on each call."""
    dbs = _PgDatabases()
    try:
        yield lambda: dbs.create(f"_{next(_pg_serial)}")
    finally:
        dbs.close()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's own test media (always present)."""
    return DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$VIDPIPE_SHARED_DATA``); skips the test when absent."""
    if not (SHARED / "README.md").is_file():
        pytest.skip(f"shared test data not found at {SHARED} (set VIDPIPE_SHARED_DATA)")
    return SHARED


def load_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``manifest.jsonl`` of a shared-data folder, keyed by file name."""
    rows = {}
    with (folder / "manifest.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows[row["name"]] = row
    return rows


def call_with_timeout(
    fn: Callable[..., Any], *args: Any, timeout: float = HANG_LIMIT, **kwargs: Any
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a daemon thread; fail the test if it hangs.

    Returns what ``fn`` returned and re-raises what it raised. (pytest-timeout is not
    a dependency; a daemon thread cannot be killed, but the test fails at once and
    the interpreter can still exit.)
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"timeout:{fn.__name__}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{fn.__name__}{args!r} did not finish within {timeout:g} s (hang)")
    if "error" in box:
        raise box["error"]
    return box.get("result")


@pytest.fixture
def no_hang() -> Callable[..., Any]:
    """:func:`call_with_timeout` as a fixture."""
    return call_with_timeout


# --------------------------------------------------------------------------- service


class RunningService:
    """A vidpipe service on uvicorn in a thread: ``url`` (``http://127.0.0.1:PORT``),
    its ``app`` (``app.state``: config, catalog, store, worker) and ``config``."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        import socket

        import uvicorn

        self.app = app
        self.config = app.state.config
        with socket.socket() as sock:
            sock.bind((host, 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    def start(self) -> RunningService:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test service did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def service_config(home: Path, **overrides: Any):
    """A :class:`~vidpipe.service.config.ServiceConfig` whose data folder is ``home``
    (catalog, queue, uploads, job folders; media roots ``home/media`` and uploads), with
    private URLs allowed (the tests' servers are on loopback). No environment change."""
    from vidpipe.service.config import ServiceConfig

    (home / "media").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{home / 'catalog.db'}",
        "storage": home,
        "queue_url": f"sqlite:///{home / 'queue.db'}",
        "media_roots": [home / "media", home / "uploads"],
        "allow_private_urls": True,
        "keys": [],
        "reap_every": 1.0,
    }
    values.update(overrides)
    return ServiceConfig.from_settings(home=home, **values)


def start_service(home: Path, **overrides: Any) -> RunningService:
    """Start a service on a free loopback port (see :func:`service_config`)."""
    from vidpipe.service.app import create_app

    return RunningService(create_app(service_config(home, **overrides))).start()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """One vidpipe service for the session (uvicorn on 127.0.0.1, a free port, an
    embedded worker, a fresh data folder, no API keys)."""
    svc = start_service(tmp_path_factory.mktemp("service_home"))
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def service_url(service: RunningService) -> str:
    """``http://127.0.0.1:PORT`` of the session's service."""
    return service.url
