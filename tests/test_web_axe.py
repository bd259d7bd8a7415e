"""axe-core over every page of the web page (issue 22), in Debian's Chromium through
Playwright (the fixtures of :mod:`test_web`).

axe-core is fetched once from the npm registry at test time (``npm pack axe-core@4``,
kept in ``tests/artifacts/axe/``), or taken from ``VIDPIPE_AXE_JS`` (a path to
``axe.min.js``); without npm, or without the registry, the test skips with the reason.
The service (uvicorn on 127.0.0.1, no worker) holds a diarized, edited item
(:mod:`edit_items`), a topics run, a failed and a finished input on the jobs page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

import test_web
from conftest import DATA, start_service
from edit_items import store_jfk

browser = test_web.browser  # the module's fixtures, shared
CACHE = test_web.ARTIFACTS.parent / "axe"


def _axe_js() -> str:
    given = os.environ.get("VIDPIPE_AXE_JS")
    if given:
        return Path(given).read_text()
    found = sorted(CACHE.glob("axe-core-*/axe.min.js"))
    if found:
        return found[-1].read_text()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("axe-core: no npm to fetch it with (set VIDPIPE_AXE_JS to axe.min.js)")
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "pack", "axe-core@4", "--silent", "--pack-destination", str(CACHE)],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.skip("axe-core: the npm registry did not answer in 180 s")
    tgz = sorted(CACHE.glob("axe-core-*.tgz"))
    if done.returncode != 0 or not tgz:
        pytest.skip(f"axe-core: npm pack failed: {(done.stderr or done.stdout).strip()[:200]}")
    folder = CACHE / tgz[-1].name.removesuffix(".tgz")
    with tarfile.open(tgz[-1]) as tar:
        member = tar.getmember("package/axe.min.js")
        folder.mkdir(exist_ok=True)
        (folder / "axe.min.js").write_bytes(tar.extractfile(member).read())
    return (folder / "axe.min.js").read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.understanding import store_topics
    from vidpipe.pipeline.execute import run_job
    from vidpipe.types import Topic

    home = tmp_path_factory.mktemp("axe_home")
    item = store_jfk(home)
    shutil.copy(DATA / "broken" / "pisets_notsound.wav", home / "media" / "notsound.wav")
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        store_topics(cat, [Topic(id=0, name="country", keywords=["country"], media_ids=[item])],
                     1, {})  # fmt: skip
    svc = start_service(home, worker=False)
    http = httpx.Client(base_url=svc.url, timeout=60)
    http.patch(f"/v1/items/{item}/speakers", json={"SPEAKER_01": "John F. Kennedy"})
    edit = {"segments": [{"id": 0, "text": "And so, my fellow Americans"}]}
    http.patch(f"/v1/items/{item}/transcript", json=edit)
    store = svc.app.state.store
    for name in ("jfk.flac", "notsound.wav"):
        probe = {"kind": "probe", "input": {"path": str(home / "media" / name)}}
        job = http.post("/v1/jobs", json={**probe, "max_attempts": 1}).json()
        run_job(store, job["id"])
    try:
        yield svc.url, item
    finally:
        svc.stop()


PAGES = [
    ("library", "/", "#lib-rows tr[data-id]", None),
    ("item", "/items/{item}", "#speakers .spk", None),
    ("item-edit", "/items/{item}", "#speakers .spk", "#edit"),
    ("search", "/search?q=country", "#hits .hit", None),
    ("topics", "/topics", "#topics .topic", None),
    ("jobs", "/jobs", "#groups .group", None),
    ("jobs-steps", "/jobs?view=steps", "#jobs .job", None),
    ("new", "/new", "#work-form", None),
    ("not-found", "/no/such/page", "#nf-title", None),
]


@pytest.mark.parametrize(("name", "path", "ready", "click"), PAGES, ids=[p[0] for p in PAGES])
def test_axe_finds_no_violations(site, browser: Any, name, path, ready, click) -> None:
    axe = _axe_js()
    url, item = site
    for w, h in test_web.SIZES.values():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        page = ctx.new_page()
        try:
            page.goto(url + path.format(item=item))
            page.wait_for_selector(ready)
            if click:
                page.click(click)
            page.add_script_tag(content=axe)
            found = page.evaluate(
                "async () => (await axe.run(document, { resultTypes: ['violations'] }))"
                ".violations.map(v => ({id: v.id, impact: v.impact,"
                " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
            )
        finally:
            ctx.close()
        assert found == [], f"{name} at {w}x{h}: {found}"
