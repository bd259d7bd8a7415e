"""Integrity of inputs (issue 18, items 7 and 9): a download never adopts or overwrites a
file it did not write unless it verified it; text named like media is not media; one
unreadable input fails alone; glued link-list lines, record numbers, names of downloads.

Downloads go to a real :class:`~servers.http_media.MediaServer` on 127.0.0.1; the
command line runs as a user runs it (``python -m vidpipe`` with a fresh home)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, call_with_timeout
from servers.http_media import MediaServer
from vidpipe.library.download import DownloadLimits, alternate_path, download_many, part_path

FAST = {"connect_timeout": 2.0, "read_timeout": 2.0, "backoff_base": 0.05, "backoff_max": 2.0}
TEXT = b"hello, this is a plain text file\n"  # what a user might have named jfk.flac
SUBRIP = b"1\n00:00:01,000 --> 00:00:02,000\nHello there\n\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vp(home: Path, *args: str, cwd: Path | None = None, prefix: tuple[str, ...] = ()):
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])
    return subprocess.run(
        [*prefix, sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


def report(home: Path) -> list[dict]:
    """The items ``vidpipe report --json -`` prints for ``home``, built in this process
    from the catalog the commands wrote (the same ``build_report``; the command itself
    is run in test_embed, test_download_guard and test_submit_batch): one process less
    per look."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.report import build_report

    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        return json.loads(json.dumps(build_report(cat).to_dict(), ensure_ascii=False))["items"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    shutil.copyfile(DATA / "jfk.flac", root / "jfk.flac")
    shutil.copyfile(DATA / "jfk.mp3", root / "jfk.mp3")
    return root


@pytest.fixture
def server(served: Path):
    with MediaServer(served) as srv:
        yield srv


def download(items, **limits):
    return call_with_timeout(download_many, items, DownloadLimits(**FAST, **limits), timeout=20)


# -- item 7: a download never adopts or overwrites what it did not write ----------------


def test_truncated_file_at_destination_is_downloaded_again_beside_it(
    server: MediaServer, served: Path, tmp_path: Path
):
    dest = tmp_path / "jfk.flac"
    truncated = (served / "jfk.flac").read_bytes()[:40_000]
    dest.write_bytes(truncated)
    [result] = download([("k", server.url("jfk.flac"), dest)])
    assert result.status == "done" and not result.adopted, result
    assert result.path == alternate_path(dest, 2) == tmp_path / "jfk-2.flac"
    assert result.sha256 == sha256(served / "jfk.flac") == sha256(result.path)
    assert dest.read_bytes() == truncated  # never overwritten
    assert server.full_downloads("jfk.flac") == 1
    # again (a fresh catalog): the complete copy beside it is verified and adopted,
    # with one request for byte 0 and no second full download
    before = len(server.requests_for("jfk.flac"))
    [again] = download([("k", server.url("jfk.flac"), dest)])
    assert again.adopted and again.path == result.path and again.sha256 == result.sha256
    assert len(server.requests_for("jfk.flac")) == before + 1
    assert server.requests_for("jfk.flac")[-1]["range"] == "bytes=0-0"
    assert server.full_downloads("jfk.flac") == 1


def test_users_text_file_at_destination_is_never_overwritten(
    server: MediaServer, served: Path, tmp_path: Path
):
    dest = tmp_path / "jfk.flac"
    dest.write_bytes(TEXT)
    part_path(alternate_path(dest, 2)).write_bytes(b"")  # an empty .part is resumed (from 0)
    [result] = download([("k", server.url("jfk.flac"), dest)])
    assert result.status == "done" and not result.adopted
    assert result.path == tmp_path / "jfk-2.flac"
    assert sha256(result.path) == sha256(served / "jfk.flac")
    assert dest.read_bytes() == TEXT


def test_complete_file_at_destination_is_adopted_after_a_length_check(
    server: MediaServer, served: Path, tmp_path: Path
):
    dest = tmp_path / "jfk.mp3"
    shutil.copyfile(served / "jfk.mp3", dest)
    [result] = download([("k", server.url("jfk.mp3"), dest)])
    assert result.adopted and result.path == dest and result.attempts == 1
    assert result.sha256 == sha256(served / "jfk.mp3")
    assert server.full_downloads("jfk.mp3") == 0
    # the same length but not media (a user's file) is not adopted
    dest.write_bytes(b"\0" * (served / "jfk.mp3").stat().st_size)
    [other] = download([("k", server.url("jfk.mp3"), dest)])
    assert not other.adopted and other.path == tmp_path / "jfk-2.mp3"
    assert dest.read_bytes() == b"\0" * (served / "jfk.mp3").stat().st_size


def test_run_with_a_fresh_catalog_does_not_adopt_a_truncated_download(
    server: MediaServer, served: Path, tmp_path: Path
):
    links = tmp_path / "links.txt"
    links.write_text(server.url("jfk.flac") + "\n")
    dest = tmp_path / "media"
    r = vp(tmp_path / "home1", "run", str(links), "--steps", "ingest,probe", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    [first] = report(tmp_path / "home1")
    downloaded = Path(first["path"])
    assert sha256(downloaded) == sha256(served / "jfk.flac")
    full = server.full_downloads("jfk.flac")
    downloaded.write_bytes(downloaded.read_bytes()[:40_000])  # damaged after the run
    r = vp(tmp_path / "home2", "run", str(links), "--steps", "ingest,probe", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    [second] = report(tmp_path / "home2")
    assert second["state"] == "done"
    assert Path(second["path"]) != downloaded
    assert sha256(Path(second["path"])) == sha256(served / "jfk.flac")
    assert second["duration"] == pytest.approx(first["duration"])  # all 11 s, not 2.2 s
    assert server.full_downloads("jfk.flac") == full + 1
    assert len(downloaded.read_bytes()) == 40_000  # the damaged file is left as it is


# -- item 7: text named like media is not media ----------------------------------------


def test_probe_refuses_text_named_like_media(tmp_path: Path):
    files = {"t.flac": TEXT, "t.ac3": TEXT, "subs.wav": SUBRIP}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    r = vp(tmp_path / "home", "probe", str(tmp_path / "t.flac"))
    assert r.returncode == 4, r.stderr  # one input: its own code
    assert "not media" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = vp(tmp_path / "home", "probe", *(str(tmp_path / n) for n in files))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3 and all("not media" in line for line in lines)
    assert "a subtitle stream" in lines[2]  # FFmpeg read subs.wav as SubRip


def test_run_fails_the_probe_step_of_text_named_like_media(tmp_path: Path):
    (tmp_path / "t.flac").write_bytes(TEXT)
    (tmp_path / "subs.wav").write_bytes(SUBRIP)
    shutil.copyfile(DATA / "jfk.flac", tmp_path / "ok.flac")
    home = tmp_path / "home"
    names = ("t.flac", "subs.wav", "ok.flac")
    r = vp(home, "run", *(str(tmp_path / n) for n in names), "--steps", "ingest,probe", "-q")
    assert r.returncode == 1, r.stderr
    states = {Path(i["uri"]).name: (i["state"], i["reason"] or "") for i in report(home)}
    assert states["ok.flac"][0] == "done"
    for name in ("t.flac", "subs.wav"):
        state, reason = states[name]
        assert state == "failed" and reason.startswith("probe: ") and "not media" in reason


# -- item 7: one unreadable input fails alone ------------------------------------------


def _unreadable(path: Path) -> tuple[str, ...]:
    """Make ``path`` unreadable; the command prefix under which it is (root reads
    anything: a user namespace where the file's owner is unmapped)."""
    path.chmod(0)
    if os.geteuid() != 0:
        return ()
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare")
    os.chown(path, 65534, 65534)
    prefix = ("unshare", "-U", "--map-root-user")
    probe = subprocess.run([*prefix, "cat", str(path)], capture_output=True)
    if probe.returncode == 0 or b"ermission denied" not in probe.stderr:
        pytest.skip("cannot make a file unreadable to root here")
    return prefix


def test_an_unreadable_input_fails_alone(tmp_path: Path):
    good = tmp_path / "a.flac"
    shutil.copyfile(DATA / "jfk.flac", good)
    bad = tmp_path / "unreadable.flac"
    shutil.copyfile(DATA / "jfk.flac", bad)
    prefix = _unreadable(bad)
    r = vp(tmp_path / "home", "probe", str(bad), prefix=prefix)
    assert r.returncode == 3 and "permission denied" in r.stderr, r.stderr
    out = tmp_path / "out"
    args = ("transcribe", str(good), str(bad), "-m", "tiny.en", "-f", "txt", "-o", str(out), "-q")
    r = vp(tmp_path / "home", *args, prefix=prefix)
    assert r.returncode == 1, r.stderr
    assert "unreadable.flac: permission denied" in r.stderr
    assert (out / "a.txt").read_text().strip()
    assert not (out / "unreadable.txt").exists()
    # vidpipe run: the unreadable file fails its ingest step, the other is processed
    home = tmp_path / "home"
    r = vp(home, "run", str(good), str(bad), "--steps", "ingest,probe", "-q", prefix=prefix)
    assert r.returncode == 1, r.stderr
    states = {Path(i["uri"]).name: (i["state"], i["reason"] or "") for i in report(home)}
    assert states["a.flac"] == ("done", "")
    assert states["unreadable.flac"][0] == "failed"
    assert "permission denied" in states["unreadable.flac"][1]


# -- item 9: link lists, record numbers, no-audio items, settings, file names -----------


@pytest.mark.parametrize(
    ("line", "urls"),
    [
        ("http://a/x.mp4http://b/y.mp4", ["http://a/x.mp4", "http://b/y.mp4"]),
        ("https://news.example.cnhttp//h/v.mp4", ["https://news.example.cn", "http://h/v.mp4"]),
        ("http://a/x.mp4 http://b/y.mp4", ["http://a/x.mp4", "http://b/y.mp4"]),
        ("https://web.archive.org/web/2020/https://e.com/x.mp4", None),
        ("https://h/watch?u=https://e.com/x.mp4", None),
        ("http://a/my clip.mp4", None),
        ("nohttp://a/x.mp4", None),
    ],
)
def test_split_glued(line: str, urls: list[str] | None):
    from vidpipe.library.urls import split_glued

    assert split_glued(line) == (urls or [line])


def test_a_glued_line_is_split_into_its_urls(server: MediaServer, served: Path, tmp_path: Path):
    glued = server.url("jfk.flac") + server.url("jfk.mp3")
    links = tmp_path / "links.txt"
    links.write_text(f"# two videos pasted together\n{glued}\n")
    home = tmp_path / "home"
    r = vp(home, "run", str(links), "--steps", "ingest,probe", "--dest", str(tmp_path / "m"), "-q")
    assert r.returncode == 0, r.stderr
    items = report(home)
    assert [i["uri"] for i in items] == [server.url("jfk.flac"), server.url("jfk.mp3")]
    for k, item in enumerate(items, start=1):
        assert item["state"] == "done" and item["duration"] > 10
        assert item["meta"] == {"glued_line": glued, "part": k, "parts": 2}
        assert item["source"].startswith("links.txt:2 ")
    assert server.full_downloads("jfk.flac") == server.full_downloads("jfk.mp3") == 1
    # a failure names the line and the URL's place on it
    (tmp_path / "bad.txt").write_text(server.url("jfk.flac") + server.url("gone.mp4") + "\n")
    r = vp(home, "run", str(tmp_path / "bad.txt"), "--steps", "ingest", "--dest", str(tmp_path))
    assert r.returncode == 1
    assert "line 1 of bad.txt (URL 2 of 2 glued together there)" in r.stderr
    assert "404" in r.stderr


def test_record_numbers_in_messages_are_the_start_end_index(server: MediaServer, tmp_path: Path):
    records = [{"id": f"r{i}", "url": server.url("jfk.flac")} for i in range(17)]
    records[14] = {"id": "r14", "title": "no link"}
    lst = tmp_path / "list.jsonl"
    lst.write_text("".join(json.dumps(r) + "\n" for r in records))
    home = tmp_path / "home"
    args = ("run", str(lst), "--steps", "ingest", "--dest", str(tmp_path / "m"), "--id-field")
    r = vp(home, *args, "id", "--start", "14", "--end", "17")
    assert r.returncode == 1
    items = {i["record_id"]: i for i in report(home)}
    assert sorted(items) == ["r14", "r15", "r16"]
    assert items["r14"]["reason"] == "ingest: record 14 has no http(s) URL"
    assert items["r14"]["source"].startswith("list.jsonl:14 ")
    assert items["r15"]["state"] == "done" and items["r15"]["source"].startswith("list.jsonl:15 ")
    assert items["r16"]["state"] == "skipped"
    assert items["r16"]["reason"] == "duplicate of record 15 of list.jsonl"


def test_embed_all_skips_items_without_audio(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copyfile(DATA / "video" / "moviepy_example.mp4", tmp_path / "silent.mp4")  # no audio
    shutil.copyfile(DATA / "en_dev" / "LJ001-0001.wav", tmp_path / "speech.wav")
    r = vp(home, "run", str(tmp_path / "silent.mp4"), str(tmp_path / "speech.wav"), "-q",
           "--steps", "ingest,probe,audio")  # fmt: skip
    assert r.returncode == 0, r.stderr  # the silent video is done: "no audio track"
    r = vp(home, "embed", "--all", "-m", "whisper:tiny.en", "-q")
    assert r.returncode == 0, r.stderr
    assert "skipped #1: no audio track" in r.stderr
    assert "1 embedded, 0 already done, 0 failed, 1 skipped (no audio track)" in r.stderr
    # the speech item's vector is an embed job; the silent one got none
    from sqlalchemy import select

    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import JobRow

    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat, cat.session() as s:
        rows = list(s.scalars(select(JobRow).where(JobRow.kind == "embed")))
        assert [(j.input["media_id"], j.status) for j in rows] == [(2, "succeeded")]
    r = vp(home, "embed", "--all", "-m", "whisper:tiny.en", "-q")
    assert "0 embedded, 1 already done, 0 failed, 1 skipped" in r.stderr, r.stderr
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat, cat.session() as s:
        assert len(list(s.scalars(select(JobRow).where(JobRow.kind == "embed")))) == 1


def test_remote_backends_without_base_url_or_key_name_the_settings(tmp_path: Path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VIDPIPE_LLM_BASE", "VIDPIPE_LLM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("VIDPIPE_IMAGE_BASE", raising=False)
    monkeypatch.delenv("VIDPIPE_IMAGE_KEY", raising=False)
    shutil.copyfile(DATA / "jfk.flac", tmp_path / "jfk.flac")
    (tmp_path / "doc.txt").write_text("Cats sleep a lot. They like fish. Dogs like walks.\n")
    home = tmp_path / "home"
    r = vp(home, "run", str(tmp_path / "jfk.flac"), "--steps", "ingest,summarize",
           "--backend", "openai")  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "VIDPIPE_LLM_BASE or --llm-base" in r.stderr and "VIDPIPE_LLM_KEY" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = vp(home, "narrate", str(tmp_path / "doc.txt"), "--images", "openai", "-o",
           str(tmp_path / "n.mp4"))  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "VIDPIPE_IMAGE_BASE or --image-base" in r.stderr and "VIDPIPE_IMAGE_KEY" in r.stderr
    assert not (tmp_path / "n.mp4").exists()


@pytest.fixture
def ogv_server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    shutil.copyfile(DATA / "video" / "tinytag_multi_stream.ogv", root / "Multi_Stream.ogv")
    shutil.copyfile(DATA / "video" / "tinytag_multi_stream.ogv", root / "Clip_A")  # no ext
    with MediaServer(root) as srv:
        yield srv


def test_download_names_keep_case_and_a_media_extension(ogv_server: MediaServer, tmp_path: Path):
    dest = tmp_path / "m"
    lines = [ogv_server.url("Multi_Stream.ogv")]
    pytest.importorskip("yt_dlp")  # the URL without extension is a page URL
    lines.append(ogv_server.url("Clip_A"))  # served as application/octet-stream
    (tmp_path / "links.txt").write_text("\n".join(lines) + "\n")
    r = vp(tmp_path / "home", "run", str(tmp_path / "links.txt"), "--steps", "ingest",
           "--dest", str(dest), "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in dest.iterdir() if not p.name.startswith("."))
    assert len(names) == 2, names
    assert names[0].startswith("Clip_A-") and names[0].endswith(".ogv")  # not .unknown_video
    assert names[1].startswith("Multi_Stream-") and names[1].endswith(".ogv")


def test_the_probe_job_fails_text_named_like_media(tmp_path: Path):
    # the probe stage as a queue worker runs it (the same stage `vidpipe run` runs)
    from vidpipe.errors import MediaError
    from vidpipe.pipeline.registry import get_stage, run_stage
    from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs

    stage = get_stage("probe")
    for name, body in (("t.flac", TEXT), ("subs.wav", SUBRIP)):
        f = tmp_path / name
        f.write_bytes(body)
        inputs = StageInputs(given=StageInput(path=str(f)))
        with pytest.raises(MediaError, match="not media"):
            run_stage(stage, StageContext(work_dir=tmp_path / "job"), inputs, stage.Options())
