"""Server paths and URL inputs of the service (issue 12): media roots with symlinks
followed, ``..`` refused, private addresses refused with the resolver asked and no
connection made."""

from __future__ import annotations

import asyncio

import pytest

from vidpipe.errors import ForbiddenError, NotFoundError, UsageError
from vidpipe.service.security import check_server_path, check_url, url_policy


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
