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
    r = vp(home, "report", "--json", "-")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["items"]


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


@pytest.mark.parametrize(
    ("name", "body"), [("t.flac", TEXT), ("t.ac3", TEXT), ("subs.wav", SUBRIP)]
)
def test_probe_refuses_text_named_like_media(tmp_path: Path, name: str, body: bytes):
    f = tmp_path / name
    f.write_bytes(body)
    r = vp(tmp_path / "home", "probe", str(f))
    assert r.returncode == 4, r.stderr
    assert "not media" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


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
