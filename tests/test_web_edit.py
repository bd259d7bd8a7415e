"""The web page's transcript editing and speakers (issue 22, parts 2 and 3), in
Debian's Chromium through Playwright (the fixtures and screenshot helper of
:mod:`test_web`).

The service (uvicorn on 127.0.0.1, no worker) holds one item: ``jfk.flac`` with a
stored, diarized transcript (:mod:`edit_items`: two segments, ``SPEAKER_00`` and
``SPEAKER_01``; no model runs). Screenshots of the item page (speakers, edit mode) and
the search page at 1366x768 and 390x844 go to ``tests/artifacts/web/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import test_web
from conftest import start_service
from edit_items import Item, store_jfk
from test_web import ARTIFACTS, SIZES, screenshot

browser = test_web.browser  # the module's fixtures, shared
page = test_web.page


@pytest.fixture
def item(tmp_path: Path) -> Iterator[Item]:
    media_id = store_jfk(tmp_path)
    svc = start_service(tmp_path, worker=False)
    try:
        yield Item(svc.url, media_id, tmp_path)
    finally:
        svc.stop()


def _texts(page: Any) -> list[str]:
    return page.eval_on_selector_all("#transcript .seg .txt", "ts => ts.map(t => t.textContent)")


def test_edit_a_word_save_reload_export(item: Item, page: Any, browser: Any) -> None:
    before = item.http.get(f"/v1/items/{item.id}/transcript").json()
    page.goto(item.page_url)
    page.wait_for_selector("#transcript .seg .w")
    assert page.locator("#tr-rev").is_hidden()
    page.click("#edit")
    lines = page.locator("#transcript .txt[contenteditable]")
    assert lines.count() == 2 and page.locator("#edit-tools").is_visible()
    second = lines.nth(1)
    new = second.text_content().replace("your country can", "your nation can")
    second.fill(new)
    second.press("Enter")  # ends the line's edit
    # find and replace across the item, then undo it
    page.fill("#find", "fellow")
    page.fill("#replace", "dear")
    page.click("#replace-form button[type=submit]")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('Replaced 1')")
    assert "dear Americans" in lines.nth(0).text_content()
    shots = _edit_screenshots(item, browser)
    page.click("#undo")
    assert "fellow Americans" in lines.nth(0).text_content()
    assert "your nation can" in lines.nth(1).text_content()
    page.click("#save")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('revision 2')")
    assert page.locator("#transcript .txt[contenteditable]").count() == 0
    assert page.locator("#transcript .w", has_text="nation").count() == 1
    page.reload()
    page.wait_for_selector("#transcript .seg .w")
    texts = _texts(page)
    assert "your nation can do" in texts[1] and "fellow Americans" in texts[0], texts
    assert page.locator("#tr-rev").is_visible()
    # exports and subtitles: the edit; the machine's version untouched
    srt = page.request.get(f"{item.url}/v1/items/{item.id}/transcript?format=srt").text()
    assert "your nation can do" in srt and "your country can do" not in srt
    orig = item.http.get(f"/v1/items/{item.id}/transcript", params={"revision": "original"})
    assert orig.json() == before
    vtt_src = page.eval_on_selector("#downloads a[href*='format=srt']", "a => a.href")
    assert "revision" not in vtt_src
    print("\n".join(f"screenshot: {p}" for p in shots))


def _edit_screenshots(item: Item, browser: Any) -> list[Path]:
    """The item page in edit mode with a find-and-replace typed, at both sizes."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = []
    for label, (w, h) in SIZES.items():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = ctx.new_page()
        pg.goto(item.page_url)
        pg.wait_for_selector("#transcript .seg .w")
        pg.click("#edit")
        pg.fill("#find", "country")
        pg.fill("#replace", "nation")
        pg.locator("#transcript-panel, .transcript-panel").first.scroll_into_view_if_needed()
        path = ARTIFACTS / f"item-edit-{label}-{w}x{h}.png"
        pg.screenshot(path=str(path))
        pg.screenshot(path=str(ARTIFACTS / f"item-edit-{label}-{w}-full.png"), full_page=True)
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        ctx.close()
        assert overflow <= 1, f"the edit mode at {w} px is {overflow} px too wide"
        out.append(path)
    return out


def test_rename_a_speaker_in_place_and_filter(item: Item, page: Any, browser: Any) -> None:
    page.goto(item.page_url)
    page.wait_for_selector("#speakers .spk")
    chips = page.locator("#spk-list .spk")
    assert chips.count() == 2
    assert page.locator("#transcript .seg .who").all_text_contents() == ["SPEAKER_00", "SPEAKER_01"]
    colours = page.eval_on_selector_all(
        "#spk-list .spk .sw", "s => s.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert len(set(colours)) == 2, colours
    page.click("#spk-list .spk >> nth=1 >> button.name")
    box = page.locator("#spk-list input.rename")
    box.fill("John F. Kennedy")
    box.press("Enter")
    page.wait_for_function(
        "[...document.querySelectorAll('#transcript .seg .who')]"
        ".some(w => w.textContent === 'John F. Kennedy')"
    )
    assert (
        page.locator("#spk-list .spk >> nth=1 >> button.name")
        .text_content()
        .startswith("John F. Kennedy")
    )
    names = item.http.get(f"/v1/items/{item.id}/speakers").json()["speakers"]
    assert [s["speaker"] for s in names] == ["SPEAKER_00", "John F. Kennedy"]
    # filter the transcript by a speaker
    page.select_option("#spk-filter", "John F. Kennedy")
    visible = page.eval_on_selector_all(
        "#transcript .seg", "ss => ss.filter(s => !s.hidden).map(s => s.dataset.speaker)"
    )
    assert visible == ["John F. Kennedy"]
    page.select_option("#spk-filter", "")
    assert page.locator("#transcript .seg:not([hidden])").count() == 2
    # Esc leaves the name as it was
    page.click("#spk-list .spk >> nth=0 >> button.name")
    page.locator("#spk-list input.rename").fill("Nobody")
    page.locator("#spk-list input.rename").press("Escape")
    assert (
        page.locator("#spk-list .spk >> nth=0 >> button.name")
        .text_content()
        .startswith("SPEAKER_00")
    )
    page.reload()
    page.wait_for_selector("#speakers .spk")
    assert "John F. Kennedy" in page.locator("#transcript .seg .who").all_text_contents()
    # the speaker in search hits and in the exports
    page.goto(f"{item.url}/search?q=country")
    page.wait_for_selector("#hits .hit")
    assert "John F. Kennedy" in page.locator("#hits .hit .where").first.text_content()
    srt = item.http.get(f"/v1/items/{item.id}/transcript", params={"format": "vtt"}).text
    assert "John F. Kennedy" in srt
    shots = screenshot(browser, item.page_url, "item-speakers", "#speakers .spk")
    shots += screenshot(browser, f"{item.url}/search?q=country", "search-speaker", "#hits .hit")
    print("\n".join(f"screenshot: {p}" for p in shots))


def test_jobs_page_pauses_and_resumes_the_queue(item: Item, page: Any, browser: Any) -> None:
    item.http.post("/v1/jobs", json={"kind": "probe", "input": {"media_id": item.id}})
    page.goto(f"{item.url}/jobs")
    page.wait_for_selector("#q-pause:not([hidden])")
    assert page.text_content("#q-pause") == "Pause queue"
    page.click("#q-pause")
    page.wait_for_function("document.querySelector('#q-pause').textContent === 'Resume queue'")
    assert item.http.get("/v1/queue").json()["paused"] is True
    assert "workers take no new jobs" in page.text_content("#q-state")
    page.reload()  # the state comes from the server
    page.wait_for_function("document.querySelector('#q-pause').textContent === 'Resume queue'")
    shots = screenshot(browser, f"{item.url}/jobs", "jobs-paused", "#q-state.paused")
    page.click("#q-pause")
    page.wait_for_function("document.querySelector('#q-pause').textContent === 'Pause queue'")
    assert item.http.get("/v1/queue").json()["paused"] is False
    assert page.text_content("#q-state") == ""
    print("\n".join(f"screenshot: {p}" for p in shots))


def test_search_groups_hits_by_item_with_picture_and_time(item: Item, page: Any) -> None:
    page.goto(f"{item.url}/search?q=country")
    page.wait_for_selector("#hits .hit-item")
    groups = page.locator("#hits .hit-item")
    assert groups.count() == 1
    g = groups.first
    assert g.locator(".hit-title a").text_content() == "jfk.flac"
    assert g.locator(".hit-title a").get_attribute("href") == f"/items/{item.id}"
    assert g.locator("img.hit-thumb").count() == 1
    hit = g.locator(".hit").first
    # the hit's time is where "country" is said (its word), not its line's start (2.57)
    said = item.http.get("/v1/search", params={"q": "country"}).json()["hits"][0]["word_start"]
    assert said > 2.57
    assert f"0:0{int(said)}" in hit.locator(".where").text_content()
    assert f"t={said:.2f}" in hit.locator("a").get_attribute("href")
    assert "in 1 item" in page.text_content("#s-count")


def test_drop_several_files_on_the_new_page(item: Item, page: Any) -> None:
    import base64

    from edit_items import DATA

    files = [("jfk.flac", DATA / "jfk.flac"), ("lj.wav", DATA / "en_dev" / "LJ001-0005.wav")]
    payload = [
        {"name": n, "b64": base64.b64encode(p.read_bytes()).decode(), "type": "audio/x-flac"}
        for n, p in files
    ]
    page.goto(f"{item.url}/new")
    page.wait_for_selector("#work-form")
    page.evaluate(
        """files => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: f.type }));
            }
            const form = document.querySelector('#work-form');
            const opts = { dataTransfer: dt, bubbles: true, cancelable: true };
            form.dispatchEvent(new DragEvent('dragover', opts));
            form.dispatchEvent(new DragEvent('drop', opts));
        }""",
        payload,
    )
    assert page.eval_on_selector("#w-files", "i => i.files.length") == 2
    assert page.locator("#w-chosen li").count() == 2
    for box in page.locator("input[name=steps]").all():
        box.set_checked(box.get_attribute("value") == "probe")
    page.click("#w-submit")
    page.wait_for_function("document.querySelector('#w-status').textContent.includes('started')")
    assert "2 jobs started" in page.text_content("#w-status")
    names = {g["name"] for g in item.http.get("/v1/queue/groups").json()["groups"]}
    assert names == {"jfk.flac", "lj.wav"}


def test_similar_items_compute_now(tmp_path: Path, page: Any) -> None:
    """ "Compute now" runs an embed job for the item (the service's own worker) and then
    asks for its neighbours: no request that must fail before."""
    media_id = store_jfk(tmp_path)
    svc = start_service(tmp_path)  # with its worker
    try:
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(f"{svc.url}/items/{media_id}")
        page.wait_for_selector("#sim-compute")
        assert not [u for u in asked if u.endswith("/similar")]
        page.click("#sim-compute")
        page.wait_for_function("!document.querySelector('#sim-compute')", timeout=180_000)
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            assert http.get(f"/v1/items/{media_id}").json()["embedded"] is True
        assert [u for u in asked if u.endswith("/similar")]
        assert "No similar items yet" in page.text_content("#similar")
    finally:
        svc.stop()


def test_topics_page_links_items_to_their_moments(item: Item, page: Any, browser: Any) -> None:
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.understanding import store_topics
    from vidpipe.types import Topic

    page.goto(f"{item.url}/topics")
    page.wait_for_selector("#topics li.muted >> text=No topics yet")
    topic = Topic(id=0, name="country", keywords=["nation", "country"], media_ids=[item.id])
    with Catalog(f"sqlite:///{item.home / 'catalog.db'}") as cat:
        store_topics(cat, [topic], 1, {"n_topics": 1})
    body = item.http.get("/v1/topics").json()
    moment = body["topics"][0]["items"][0]["moment"]
    assert moment == {"start": 2.57, "keyword": "country"}  # the second segment says it
    page.reload()
    page.wait_for_selector("#topics .topic")
    assert page.text_content("#topics .topic h3").startswith("country")
    link = page.locator("#topics .topic a.moment")
    assert "at 0:02" in link.text_content()
    link.click()
    page.wait_for_url("**/items/**")
    page.wait_for_function(
        "document.querySelector('#player') && document.querySelector('#player').readyState >= 1"
        " && document.querySelector('#transcript .seg.current')"
    )
    assert page.evaluate("document.querySelector('#transcript').dataset.current") == "1"
    shots = screenshot(browser, f"{item.url}/topics", "topics", "#topics .topic")
    print("\n".join(f"screenshot: {p}" for p in shots))
