"""The item page's edit mode gives each line a speaker select, and says when the summary
and chapters are based on an older transcript (issue 22), in Debian's Chromium through
Playwright (the fixtures and screenshot helper of :mod:`test_web`).

The service (uvicorn on 127.0.0.1) holds ``jfk.flac`` with a stored, diarized
transcript (:mod:`edit_items`: two segments, ``SPEAKER_00`` and ``SPEAKER_01``; no
speech model runs; summaries by the extractive backend). Screenshots of the edit mode
with the speaker selects and of the item page with the "older transcript" note, at
1366x768 and 390x844, go to ``tests/artifacts/web/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    svc = start_service(tmp_path)  # with its worker: "Recompute" runs jobs
    try:
        yield Item(svc.url, media_id, tmp_path)
    finally:
        svc.stop()


def _who(page: Any) -> list[str]:
    return page.locator("#transcript .seg .who").all_text_contents()


def test_change_a_lines_speaker_save_reload_export(item: Item, page: Any, browser: Any) -> None:
    page.goto(item.page_url)
    page.wait_for_selector("#transcript .seg .w")
    assert _who(page) == ["SPEAKER_00", "SPEAKER_01"]
    page.click("#edit")
    picks = page.locator("#transcript .seg select.spk-pick")
    assert picks.count() == 2
    assert [p.input_value() for p in picks.all()] == ["SPEAKER_00", "SPEAKER_01"]
    options = picks.nth(0).locator("option").all_text_contents()
    assert options == ["No speaker", "SPEAKER_00", "SPEAKER_01", "New speaker…"]
    shots = _edit_screenshots(item, browser)
    # a speaker change is one undo step
    picks.nth(1).select_option("SPEAKER_00")
    assert page.locator("#undo").is_enabled()
    page.click("#undo")
    assert [p.input_value() for p in picks.all()] == ["SPEAKER_00", "SPEAKER_01"]
    # the second line to the first speaker; the first line to a new speaker
    picks.nth(1).select_option("SPEAKER_00")
    new_box = page.locator("#transcript .seg").nth(0).locator("input.spk-new")
    assert new_box.is_hidden()
    picks.nth(0).select_option(label="New speaker…")
    assert new_box.is_visible()
    page.click("#save")  # no name yet: refused, nothing saved
    page.wait_for_function("document.querySelector('#flash').textContent.includes('new speaker')")
    assert (
        item.http.get(f"/v1/items/{item.id}/transcript/revisions").json()["revisions"][-1]["number"]
        == 1
    )
    new_box.fill("Moderator")
    page.click("#save")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('revision 2')")
    assert _who(page) == ["Moderator", "SPEAKER_00"]
    chips = page.locator("#spk-list .spk button.name").all_text_contents()
    assert any(c.startswith("Moderator") for c in chips), chips
    page.reload()
    page.wait_for_selector("#transcript .seg .w")
    assert _who(page) == ["Moderator", "SPEAKER_00"]
    # the text and word times are as they were; the exports carry the speakers
    tr = item.http.get(f"/v1/items/{item.id}/transcript").json()
    orig = item.http.get(f"/v1/items/{item.id}/transcript", params={"revision": "original"})
    assert [s["speaker"] for s in tr["segments"]] == ["Moderator", "SPEAKER_00"]
    assert [s["speaker"] for s in orig.json()["segments"]] == ["SPEAKER_00", "SPEAKER_01"]
    for a, b in zip(tr["segments"], orig.json()["segments"], strict=True):
        assert a["text"] == b["text"]
        assert [w["start"] for w in a["words"]] == [w["start"] for w in b["words"]]
    vtt = page.request.get(f"{item.url}/v1/items/{item.id}/transcript?format=vtt").text()
    assert "<v Moderator>" in vtt and "<v SPEAKER_00>" in vtt and "SPEAKER_01" not in vtt
    srt = page.request.get(f"{item.url}/v1/items/{item.id}/transcript?format=srt").text()
    assert "[Moderator]" in srt and "[SPEAKER_00]" in srt and "SPEAKER_01" not in srt
    # "No speaker" takes it away
    page.click("#edit")
    page.locator("#transcript .seg select.spk-pick").nth(1).select_option("")
    page.click("#save")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('revision 3')")
    assert _who(page) == ["Moderator"]
    print("\n".join(f"screenshot: {p}" for p in shots))


def _edit_screenshots(item: Item, browser: Any) -> list[Path]:
    """The item page in edit mode (the speaker selects), at both sizes; the second
    line's select opened on "New speaker…" with a name typed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = []
    for label, (w, h) in SIZES.items():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = ctx.new_page()
        pg.goto(item.page_url)
        pg.wait_for_selector("#transcript .seg .w")
        pg.click("#edit")
        pick = pg.locator("#transcript .seg select.spk-pick").nth(1)
        pick.select_option(label="New speaker…")
        pg.locator("#transcript .seg").nth(1).locator("input.spk-new").fill("Moderator")
        pg.locator("#transcript").scroll_into_view_if_needed()
        path = ARTIFACTS / f"item-edit-speakers-{label}-{w}x{h}.png"
        pg.screenshot(path=str(path))
        pg.screenshot(
            path=str(ARTIFACTS / f"item-edit-speakers-{label}-{w}-full.png"), full_page=True
        )
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        ctx.close()
        assert overflow <= 1, f"the edit mode at {w} px is {overflow} px too wide"
        out.append(path)
    return out


def test_page_says_the_summary_is_stale_and_recomputes(item: Item, page: Any, browser: Any) -> None:
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.stages.chapters import chapters_media
    from vidpipe.pipeline.stages.summarize import summarize_media

    with Catalog(f"sqlite:///{item.home / 'catalog.db'}") as cat:
        summarize_media(cat, item.id)
        chapters_media(cat, item.id)
    page.goto(item.page_url)
    page.wait_for_selector("#transcript .seg .w")
    assert page.locator("#stale").count() == 0  # fresh: no note
    # an edit on the page: the note appears at once
    page.click("#edit")
    line = page.locator("#transcript .txt[contenteditable]").nth(1)
    line.fill(line.text_content().replace("your country can", "your nation can"))
    page.click("#save")
    page.wait_for_selector("#stale #recompute")
    text = page.text_content("#stale")
    assert "summary and chapters are based on an older transcript" in text, text
    assert "revision 1" in text and "revision 2" in text
    page.reload()
    page.wait_for_selector("#stale #recompute")
    shots = screenshot(browser, item.page_url, "item-stale", "#stale #recompute")
    page.click("#recompute")
    page.wait_for_function("!document.querySelector('#stale')", timeout=120_000)
    body = item.http.get(f"/v1/items/{item.id}").json()
    assert body["summary_state"]["stale"] is False and body["summary_state"]["revision"] == 2
    assert body["chapters_state"]["stale"] is False
    assert "nation" in str(body["summary"])
    print("\n".join(f"screenshot: {p}" for p in shots))


def test_axe_finds_nothing_in_the_stale_note_and_speaker_selects(item: Item, browser: Any) -> None:
    """axe-core (as :mod:`test_web_axe` gets it) on the item page with the "older
    transcript" note and, in edit mode, the speaker selects with a new speaker's box."""
    from test_web_axe import _axe_js
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.stages.summarize import summarize_media

    axe = _axe_js()
    with Catalog(f"sqlite:///{item.home / 'catalog.db'}") as cat:
        summarize_media(cat, item.id)
    edit = {"segments": [{"id": 1, "text": "ask not what your nation can do for you"}]}
    assert item.http.patch(f"/v1/items/{item.id}/transcript", json=edit).status_code == 200
    for w, h in SIZES.values():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = ctx.new_page()
        try:
            pg.goto(item.page_url)
            pg.wait_for_selector("#stale #recompute")
            pg.click("#edit")
            pg.locator("#transcript .seg select.spk-pick").nth(0).select_option(
                label="New speaker…"
            )
            pg.add_script_tag(content=axe)
            found = pg.evaluate(
                "async () => (await axe.run(document, { resultTypes: ['violations'] }))"
                ".violations.map(v => ({id: v.id, impact: v.impact,"
                " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
            )
        finally:
            ctx.close()
        assert found == [], f"item page (stale note, speaker selects) at {w}x{h}: {found}"
