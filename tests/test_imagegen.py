"""Image generators for narrated videos (:mod:`vidpipe.vision.images`), on real data.

Chunk texts come from the cached transcripts in ``tests/data/transcripts`` (English LJ
Speech, Chinese AISHELL/PaddleSpeech, Russian), photos from ``tests/data/photos``, the
video from ``tests/data/video``. The image models are stood in for by
``tests/servers/image_servers.py`` (the real WebUI and OpenAI protocols over HTTP) and
the LLM by ``tests/servers/llm_faults.py``. The catalog tests run on SQLite and on
PostgreSQL (``$VIDPIPE_TEST_PG``; skipped when it does not answer).
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from conftest import DATA, call_with_timeout
from vidpipe.errors import InputError, RemoteError, UsageError
from vidpipe.library.catalog import Catalog
from vidpipe.media.fonts import load_font, missing_glyphs, wrap_text
from vidpipe.text.chunking import chunk_transcript
from vidpipe.text.llm import OpenAIBackend
from vidpipe.types import Chunk, Transcript
from vidpipe.vision.images import (
    META_CHUNK,
    META_GENERATOR,
    META_PROMPT,
    SAFE_BOTTOM,
    CardGenerator,
    FolderImages,
    FrameImages,
    GeneratedImage,
    ImageGenerator,
    OpenAIImageGenerator,
    SDWebUIGenerator,
    card_background,
    card_text,
    get_image_generator,
    image_prompt,
    natural_key,
    read_image_metadata,
    render_card,
    write_png,
)
from vidpipe.vision.keyframes import read_frames
from vidpipe.vision.ocr import ocr_image

sys.path.insert(0, str(Path(__file__).parent / "servers"))

from image_servers import ImageServer, prompt_colour
from llm_faults import FaultServer

TRANSCRIPTS = DATA / "transcripts"
PHOTOS = DATA / "photos"
VIDEO = DATA / "video" / "moviepy_example.mp4"  # 16 s, 640x480
W, H = 1920, 1080


def load_chunks(name: str, max_duration: float = 30.0) -> list[Chunk]:
    tr = Transcript.model_validate_json((TRANSCRIPTS / name).read_text(encoding="utf-8"))
    return chunk_transcript(tr, max_duration)


@pytest.fixture(scope="module")
def chunks() -> dict[str, list[Chunk]]:
    return {
        "en": load_chunks("en_dev_tiny.en.json"),
        "zh": load_chunks("zh_base.json", 4.0),  # two chunks
        "ru": load_chunks("ru_base.json"),  # one chunk: 8 s of speech
    }


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def norm(s: str) -> str:
    """Lower-case letters and digits only (for comparing OCR output)."""
    return re.sub(r"\W+", "", s).lower()


def changed_rows(card: Image.Image, index: int) -> np.ndarray:
    """Row indices where ``card`` differs from its bare background (i.e. something drawn)."""
    a = np.asarray(card.convert("RGB"), dtype=np.int16)
    b = np.asarray(card_background(index, card.width, card.height), dtype=np.int16)
    return np.nonzero(np.abs(a - b).max(axis=(1, 2)) > 2)[0]


# --------------------------------------------------------------------------- wrapping


def test_wrap_text_breaks_between_cjk_characters_and_at_spaces(chunks):
    font = load_font(None, 48)
    zh = chunks["zh"][1].text  # 我認為跑步最重要的就是給我帶來了身體健康
    lines = wrap_text(zh, font, 300)
    assert len(lines) > 1
    assert "".join(lines) == zh.replace(" ", "")
    assert all(font.getlength(line) <= 300 for line in lines)

    en = chunks["en"][0].text
    lines = wrap_text(en, font, 700)
    assert " ".join(lines) == " ".join(en.split())
    assert all(font.getlength(line) <= 700 for line in lines)
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in lines)
    # greedy: the next word would not have fitted on the line before
    for a, b in itertools.pairwise(lines):
        assert font.getlength(a + " " + b.split()[0]) > 700

    # no line starts with closing punctuation; an over-long word is cut
    mixed = "我認為跑步最重要的，就是給我帶來了身體健康。Supercalifragilisticexpialidocious"
    lines = wrap_text(mixed, font, 230)
    assert not any(line[0] in "，。" for line in lines)
    assert all(font.getlength(line) <= 230 for line in lines)
    assert "".join(lines) == mixed
    assert wrap_text("", font, 100) == [] and wrap_text("a\nb", font, 500) == ["a", "b"]


def test_natural_order():
    names = ["img10.png", "img2.png", "IMG1.jpg", "img2b.png", "cover.png"]
    assert sorted(names, key=natural_key) == [
        "cover.png",
        "IMG1.jpg",
        "img2.png",
        "img2b.png",
        "img10.png",
    ]


# --------------------------------------------------------------------------- cards


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_cards_for_each_script(tmp_path, chunks, lang):
    items = chunks[lang][:3]
    gen = get_image_generator("cards", width=W, height=H)
    assert isinstance(gen, CardGenerator) and isinstance(gen, ImageGenerator)
    seen: list[tuple] = []
    images = gen.generate(items, tmp_path, language=lang, progress=lambda d, t: seen.append((d, t)))
    assert [g.chunk_id for g in images] == [c.id for c in items]
    assert seen[0] == (0.0, len(items)) and seen[-1] == (len(items), len(items))
    font = load_font(None, 64)
    for pos, (chunk, img) in enumerate(zip(items, images, strict=True)):
        assert img.path == tmp_path / f"cards-{pos + 1:03d}.png"
        assert (img.generator, img.width, img.height) == ("cards", W, H)
        with Image.open(img.path) as im:
            assert im.format == "PNG" and im.size == (W, H)
            pixels = im.convert("RGB")
        headline, phrases = card_text(chunk.text, lang, 3)
        assert headline and img.prompt == "\n".join([headline, *phrases])
        assert 1 <= len(phrases) <= 3
        # every glyph of what the card shows exists in the font
        card = render_card(
            headline, phrases, index=pos, total=len(items), start=chunk.start, end=chunk.end
        )
        drawn = "".join(b.text for b in card.boxes)
        assert missing_glyphs(font, drawn) == ""
        # layout boxes: inside the frame, above the subtitle area
        limit = H * (1 - SAFE_BOTTOM)
        for box in card.boxes:
            left, top, right, bottom = box.box
            assert 0 <= left < right <= W and 0 <= top < bottom <= limit, box
        # and the file itself: nothing but background below the line
        rows = changed_rows(pixels, pos)
        assert rows.size and rows.max() < limit
        assert np.array_equal(np.asarray(pixels), np.asarray(card.image))
    # the phrases of a card come from its chunk, as written
    for chunk, img in zip(items, images, strict=True):
        for phrase in img.prompt.splitlines()[1:]:
            assert phrase.lower() in chunk.text.lower()


def test_card_headlines_read_back_by_ocr(tmp_path, chunks):
    en = CardGenerator().generate(chunks["en"][5:6], tmp_path / "en", language="en")[0]
    zh = CardGenerator().generate(chunks["zh"][1:2], tmp_path / "zh", language="zh")[0]
    for img in (en, zh):
        headline = img.prompt.splitlines()[0]
        with Image.open(img.path) as im:  # half size: readable at a glance, and faster
            half = im.convert("RGB").resize((W // 2, H // 2), Image.Resampling.LANCZOS)
        lines = call_with_timeout(ocr_image, half, timeout=60)
        read = norm(" ".join(lines))
        best = max(
            SequenceMatcher(None, norm(headline), read[i : i + len(norm(headline))]).ratio()
            for i in range(max(1, len(read) - len(norm(headline)) + 1))
        )
        assert best >= 0.9, (headline, lines)
    assert en.prompt.splitlines()[0] == "Gutenberg Bible"


def test_long_text_wraps_shrinks_and_stays_in_the_safe_area(chunks):
    en_all = " ".join(c.text for c in chunks["en"])
    zh_all = "".join(c.text for c in chunks["zh"]) * 3
    short = render_card("Gutenberg Bible", ["movable type"])
    short_size = max(b.box[3] - b.box[1] for b in short.boxes if b.role == "headline")
    for headline, phrases, size in (
        (en_all[:150], [c.text[:90] for c in chunks["en"][:4]], (W, H)),
        (zh_all, [chunks["zh"][0].text, "身體健康"], (W, H)),
        (en_all[:60], ["movable type", "Gutenberg Bible", "Peter Schofer"], (1080, 1920)),
        (chunks["ru"][0].text, ["нейронной сети"], (640, 360)),
    ):
        card = render_card(headline, phrases, index=2, total=9, width=size[0], height=size[1])
        assert card.image.size == size
        heads = [b for b in card.boxes if b.role == "headline"]
        assert 1 <= len(heads) <= 3
        limit = size[1] * (1 - SAFE_BOTTOM)
        for box in card.boxes:
            left, top, right, bottom = box.box
            assert 0 <= left < right <= size[0] and 0 <= top < bottom <= limit, box
        assert changed_rows(card.image, 2).max() < limit
        shown = "".join(b.text for b in heads).replace(" ", "").rstrip("…")
        assert shown and headline.replace(" ", "").startswith(shown)
        if size == (W, H):
            assert max(b.box[3] - b.box[1] for b in heads) < short_size  # shrunk
    # the very long Chinese headline is cut with an ellipsis after 3 lines
    card = render_card(zh_all * 4, [])
    heads = [b.text for b in card.boxes if b.role == "headline"]
    assert len(heads) == 3 and heads[-1].endswith("…")


def test_card_colours_vary_gently_and_repeat():
    means = [np.asarray(card_background(i, 320, 180)).reshape(-1, 3).mean(0) for i in range(12)]
    steps = [np.abs(a - b).max() for a, b in itertools.pairwise(means)]
    assert all(0 < s < 30 for s in steps)  # neighbours differ, but gently
    assert np.array_equal(card_background(3, 64, 64), card_background(3, 64, 64))


def test_png_metadata_round_trips(tmp_path):
    prompts = {"en": "an illustration of Gutenberg Bible", "zh": "跑步\n身體", "ru": "Бедняга"}
    for lang, prompt in prompts.items():
        path = tmp_path / f"{lang}.png"
        meta = {META_PROMPT: prompt, META_GENERATOR: "cards", META_CHUNK: "7"}
        write_png(Image.open(PHOTOS / "camera.png"), path, meta)
        assert read_image_metadata(path) == meta
    assert read_image_metadata(PHOTOS / "rocket.jpg") == {}
    assert read_image_metadata(tmp_path / "missing.png") == {}
    assert not list(tmp_path.glob(".*part*"))  # atomic writes leave no temporaries


def test_a_generator_redraws_and_keeps_provenance(tmp_path, chunks):
    """Generators keep no cache of their own (the stage cache skips the images stage):
    a second call draws again, the same picture, with its provenance in the PNG."""
    items = chunks["en"][:2]
    first = CardGenerator(width=640, height=360).generate(items, tmp_path, language="en")
    pixels = [np.asarray(Image.open(p.path)) for p in first]
    stamps = [p.path.stat().st_mtime_ns for p in first]
    again = CardGenerator(width=640, height=360).generate(items, tmp_path, language="en")
    assert again == first
    assert [p.path.stat().st_mtime_ns for p in again] != stamps  # drawn again
    assert all(
        np.array_equal(np.asarray(Image.open(p.path)), px)
        for p, px in zip(again, pixels, strict=True)
    )
    meta = read_image_metadata(first[0].path)
    assert meta["vidpipe:generator"] == "cards" and len(meta["vidpipe:key"]) == 64
    bigger = CardGenerator(width=800, height=450).generate(items, tmp_path, language="en")
    assert [b.width for b in bigger] == [800, 800]
    assert read_image_metadata(bigger[0].path)["vidpipe:key"] != meta["vidpipe:key"]


# --------------------------------------------------------------------------- folder


def test_folder_natural_order_cycling_and_first_n(tmp_path, chunks):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, src in (
        ("img10.jpg", "rocket.jpg"),
        ("img2.png", "camera.png"),  # grayscale
        ("img1.png", "coffee.png"),
    ):
        shutil.copy(PHOTOS / src, folder / name)
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (folder / ".hidden.png").write_bytes(b"")
    items = [Chunk(id=i, start=i * 10.0, end=i * 10.0 + 9, text=f"part {i}") for i in range(5)]
    gen = get_image_generator(f"folder:{folder}", width=W, height=H, llm=None)
    assert isinstance(gen, FolderImages)
    got = gen.generate(items, tmp_path / "work")
    names = [g.path.name for g in got]
    assert names == ["img1.png", "img2.png", "img10.jpg", "img1.png", "img2.png"]
    assert all(g.path.parent == folder and g.prompt is None for g in got)
    with Image.open(PHOTOS / "camera.png") as im:
        assert (got[1].width, got[1].height) == im.size and im.mode == "L"
    assert [g.chunk_id for g in got] == list(range(5))
    # more images than chunks: the first ones
    real = FolderImages(PHOTOS).generate(chunks["en"][:3], tmp_path / "w2")
    assert [g.path.name for g in real] == ["astronaut.png", "brick.png", "camera.png"]


def test_folder_corrupt_empty_and_missing(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(PHOTOS / "chelsea.png", folder / "01.png")
    data = (PHOTOS / "coffee.png").read_bytes()
    (folder / "02.png").write_bytes(data[: len(data) // 2])  # truncated
    items = [Chunk(id=i, start=i, end=i + 1, text="x") for i in range(3)]
    with pytest.raises(InputError) as err:
        FolderImages(folder).generate(items, tmp_path)
    assert "02.png" in str(err.value) and "\n" not in err.value.one_line()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here", encoding="utf-8")
    with pytest.raises(InputError, match="no images"):
        FolderImages(empty).generate(items, tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        get_image_generator(f"folder:{tmp_path / 'nope'}").generate(items, tmp_path)


# --------------------------------------------------------------------------- frames


def test_frames_at_chunk_midpoints(tmp_path):
    items = [
        Chunk(id=0, start=0.0, end=4.0, text="a"),
        Chunk(id=1, start=4.0, end=10.0, text="b"),
        Chunk(id=2, start=10.0, end=30.0, text="c"),  # midpoint past the end: last frame
    ]
    gen = get_image_generator("frames", source_video=str(VIDEO), width=W, height=H)
    assert isinstance(gen, FrameImages)
    got = gen.generate(items, tmp_path)
    assert [g.path.name for g in got] == ["frame-001.jpg", "frame-002.jpg", "frame-003.jpg"]
    assert all(
        (g.width, g.height, g.prompt, g.generator) == (640, 480, None, "frames") for g in got
    )
    expected = read_frames(VIDEO, [2.0, 7.0])
    for g, ref in zip(got, expected, strict=False):
        with Image.open(g.path) as im:
            diff = np.abs(np.asarray(im, np.int16) - np.asarray(ref, np.int16)).mean()
        assert diff < 6  # the same picture, up to JPEG loss
    a, b = (np.asarray(Image.open(g.path), np.int16) for g in got[:2])
    assert np.abs(a - b).mean() > 6  # different times, different pictures
    with pytest.raises(UsageError, match="source video"):
        get_image_generator("frames")


# --------------------------------------------------------------------------- prompts


def test_image_prompt_from_keywords_and_from_llm(chunks, llm_server):
    chunk = chunks["en"][5]
    offline = image_prompt(chunk, "en")
    assert offline.startswith("an illustration of Gutenberg Bible, ")
    assert offline.endswith("soft light, no text") and "\n" not in offline
    zh = image_prompt(chunks["zh"][1], None)  # language guessed from the script
    assert "跑步" in zh
    llm = OpenAIBackend(
        base_url=llm_server.url("ok", "prompt"), api_key="k", model="m", cache=False, rpm=0
    )
    assert image_prompt(chunk, "en", llm) == "reply 0, soft light, no text"
    assert len(llm_server.of("prompt")) == 1


# --------------------------------------------------------------------------- sdwebui


def sd(server: ImageServer, mode: str, name: str, **kw) -> SDWebUIGenerator:
    kw.setdefault("width", 640)
    kw.setdefault("height", 360)
    kw.setdefault("backoff", 0.01)
    return get_image_generator("sdwebui", base_url=server.sd_url(mode, name), **kw)


def test_sdwebui_generates_one_png_per_chunk(tmp_path, server, chunks):
    items = chunks["en"][:2] + chunks["zh"][1:2]
    gen = sd(server, "ok", "sd-ok", steps=12, seed=42)
    got = gen.generate(items, tmp_path)
    reqs = server.of("sd-ok")
    assert len(reqs) == 3 and all(r.status == 200 for r in reqs)
    for pos, (g, req) in enumerate(zip(got, reqs, strict=True)):
        body = req.body
        assert body["prompt"] == g.prompt and body["steps"] == 12 and body["seed"] == 42 + pos
        assert (body["width"], body["height"]) == (1024, 576)  # 16:9, multiples of 64
        assert "text" in body["negative_prompt"]
        assert g.path == tmp_path / f"sdwebui-{pos + 1:03d}.png"
        meta = read_image_metadata(g.path)
        assert meta[META_PROMPT] == g.prompt and meta[META_GENERATOR] == "sdwebui"
        assert meta[META_CHUNK] == str(items[pos].id)
        with Image.open(g.path) as im:
            assert im.size == (640, 360) == (g.width, g.height)
            top = im.convert("RGB").getpixel((320, 1))
        assert max(abs(a - b) for a, b in zip(top, prompt_colour(g.prompt), strict=True)) <= 6
    assert "跑步" in got[2].prompt


def test_sdwebui_retries_a_500(tmp_path, server, chunks):
    got = sd(server, "500", "sd-500").generate(chunks["ru"][:1], tmp_path)
    assert [r.status for r in server.of("sd-500")] == [500, 200]
    assert got[0].path.is_file()


def test_sdwebui_errors_are_one_line_remote_errors(tmp_path, server, chunks):
    with pytest.raises(RemoteError) as err:
        sd(server, "400", "sd-400").generate(chunks["en"][:1], tmp_path)
    msg = err.value.one_line()
    assert "HTTP 400" in msg and "Sampler not found" in msg and "\n" not in msg
    assert len(server.of("sd-400")) == 1  # a 4xx is not retried
    with pytest.raises(RemoteError, match="not a readable picture"):
        sd(server, "garbage", "sd-garbage").generate(chunks["en"][:1], tmp_path)
    with pytest.raises(RemoteError, match="HTTP 422: width: must be a multiple of 8"):
        _post_bad_size(server)  # the server validates like the WebUI (FastAPI's 422)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = SDWebUIGenerator(f"http://127.0.0.1:{port}", width=640, height=360, backoff=0.01)
    with pytest.raises(RemoteError, match="failed after 4 attempts: connection failed"):
        gen.generate(chunks["en"][:1], tmp_path)
    assert not list(tmp_path.glob("*.png"))


def _post_bad_size(server: ImageServer) -> None:
    gen = SDWebUIGenerator(server.sd_url("ok", "sd-422"), width=640, height=360)
    body = gen.payload("a test", 0)
    body["width"] = 650
    gen._post(body)


# --------------------------------------------------------------------------- openai


def oa(server: ImageServer, mode: str, name: str, **kw) -> OpenAIImageGenerator:
    kw.setdefault("width", 640)
    kw.setdefault("height", 360)
    kw.setdefault("backoff", 0.01)
    return get_image_generator(
        "openai", base_url=server.openai_url(mode, name), api_key="k", model="dall-e-3", **kw
    )


def test_openai_generates_and_retries(tmp_path, server, chunks):
    got = oa(server, "500", "oa-500").generate(chunks["en"][:2], tmp_path)
    reqs = server.of("oa-500")
    assert [r.status for r in reqs] == [500, 200, 200]
    body = reqs[-1].body
    assert body["size"] == "1792x1024" and body["response_format"] == "b64_json"
    assert body["model"] == "dall-e-3" and body["n"] == 1 and body["prompt"] == got[1].prompt
    for pos, g in enumerate(got):
        assert g.path.name == f"openai-{pos + 1:03d}.png" and (g.width, g.height) == (640, 360)
        assert read_image_metadata(g.path)[META_GENERATOR] == "openai"
    square = oa(server, "ok", "oa-sq", width=512, height=512)
    square.generate(chunks["ru"][:1], tmp_path / "sq")
    assert server.of("oa-sq")[0].body["size"] == "1024x1024"


def test_openai_400_is_a_remote_error(tmp_path, server, chunks):
    with pytest.raises(RemoteError) as err:
        oa(server, "400", "oa-400").generate(chunks["en"][:1], tmp_path)
    msg = err.value.one_line()
    assert "HTTP 400" in msg and "safety system" in msg and "\n" not in msg
    assert len(server.of("oa-400")) == 1
    with pytest.raises(RemoteError, match="not a readable picture"):
        oa(server, "garbage", "oa-garbage").generate(chunks["en"][:1], tmp_path)


# --------------------------------------------------------------------------- reruns


def test_rerun_makes_no_requests(tmp_path, server, llm_server):
    """An images stage run through the stage cache: the second run sends no image
    request and no LLM request; without the LLM the prompts differ, so it draws again."""
    from vidpipe.pipeline.cache import StageCache, run_cached
    from vidpipe.pipeline.registry import get_stage
    from vidpipe.pipeline.stages import DependencyOutput, StageContext, StageInputs

    spoken = tmp_path / "dep" / "transcript.json"
    spoken.parent.mkdir()
    shutil.copy(TRANSCRIPTS / "en_dev_tiny.en.json", spoken)
    dep = DependencyOutput(job_id="t", kind="transcribe", artifacts=[spoken])
    stage = get_stage("images")
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        cache = StageCache(cat)
        for spec, name, url in (
            ("sdwebui", "sd-rerun", server.sd_url("ok", "sd-rerun")),
            ("openai", "oa-rerun", server.openai_url("ok", "oa-rerun")),
        ):
            params = {"generator": spec, "image_base": url, "width": 640, "height": 360}
            params |= {"max_chunk": 30.0, "llm_model": "m"}
            llm = params | {"llm_base": llm_server.url("ok", f"rerun-{name}")}
            ctx = StageContext(work_dir=tmp_path / name, catalog=cat)
            inputs = StageInputs(deps=[dep])
            first, hit = run_cached(stage, ctx, inputs, stage.parse_options(llm), cache)
            n = len(first.artifacts)
            assert not hit and n >= 2 and len(server.of(name)) == n
            prompts = [g["prompt"] for g in first.result["images"]]
            assert all(re.fullmatch(r"reply \d+, soft light, no text", p) for p in prompts)
            llm_calls = len(llm_server.of(f"rerun-{name}"))
            again, hit = run_cached(stage, ctx, inputs, stage.parse_options(llm), cache)
            assert hit and again == first
            assert len(server.of(name)) == n  # no image request
            assert len(llm_server.of(f"rerun-{name}")) == llm_calls  # and no LLM request
            plain = params | {"llm_base": None}
            _, hit = run_cached(stage, ctx, inputs, stage.parse_options(plain), cache)
            assert not hit and len(server.of(name)) == 2 * n


# --------------------------------------------------------------------------- factory


def test_specs():
    assert isinstance(get_image_generator(None), CardGenerator)
    assert isinstance(get_image_generator(" Cards "), CardGenerator)
    assert isinstance(get_image_generator("sdwebui:http://h:7860/"), SDWebUIGenerator)
    assert get_image_generator("sdwebui:http://h:7860/").base_url == "http://h:7860"
    assert get_image_generator(f"frames:{VIDEO}").source_video == VIDEO
    card = get_image_generator("cards", width=1280, height=720, source_video="x.mp4", llm=None)
    assert (card.width, card.height) == (1280, 720)
    for bad in ("dalle", "cards:x", "folder", "folder:", "openai:x"):
        with pytest.raises(UsageError) as err:
            get_image_generator(bad)
        line = err.value.one_line()
        assert "\n" not in line
        if bad == "dalle":
            assert all(s in line for s in ("cards", "folder:DIR", "frames", "sdwebui", "openai"))
    assert GeneratedImage(chunk_id=1, path="a.png", generator="cards", width=1, height=1)


# --------------------------------------------------------------------------- catalog


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    else:
        cat = Catalog(request.getfixturevalue("module_pg_url"))
        with cat.engine.begin() as conn:
            conn.execute(text("TRUNCATE images, media RESTART IDENTITY CASCADE"))
    yield cat
    cat.close()


def test_catalog_records_images(tmp_path, catalog, chunks):
    items = chunks["en"][:3]
    work = tmp_path / "work" / "images"
    made = CardGenerator(width=640, height=360).generate(
        items, work, language="en", catalog=catalog
    )
    rows = catalog.images(work_dir=work.resolve())
    assert [(r.chunk_id, r.path, r.prompt, r.generator, r.width, r.height) for r in rows] == [
        (g.chunk_id, str(g.path), g.prompt, "cards", 640, 360) for g in made
    ]
    assert rows[0].media_id is None and rows[0].created_at is not None
    # a rerun replaces the rows instead of adding more
    CardGenerator(width=640, height=360).generate(items, work, language="en", catalog=catalog)
    assert len(catalog.images(work_dir=str(work.resolve()))) == 3
    # folder images under a media item
    media, _ = catalog.add_media(VIDEO, "f" * 64, VIDEO.stat().st_size)
    FolderImages(PHOTOS).generate(items[:2], tmp_path / "w2", catalog=catalog, media_id=media.id)
    got = catalog.images(media_id=media.id)
    assert [(r.generator, r.prompt, Path(r.path).name) for r in got] == [
        ("folder", None, "astronaut.png"),
        ("folder", None, "brick.png"),
    ]
    assert len(catalog.images(generator="cards")) == 3 and len(catalog.images()) == 5
    rid = catalog.record_image(
        chunk_id=9, path="x.png", generator="openai", width=1, height=1, prompt="跑步"
    )
    assert catalog.images(generator="openai")[0].id == rid
