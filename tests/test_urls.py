"""URL validation, link-list parsing and safe file names (vidpipe.library.urls)."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidpipe.errors import UsageError
from vidpipe.library.urls import (
    MAX_FILENAME,
    UrlPolicy,
    address_block_reason,
    is_direct_media_url,
    parse_link_list,
    redact_url,
    safe_filename,
    validate_url,
)

# -- validate_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        # real patterns from scraped link lists: a second URL pasted without a separator
        "https://news.example.cnhttp//host/path.mp4",
        "https://news.example.cnhttps://host/path.mp4",
        "http://a.com/x.mp4http://b.com/y.mp4",
        "http://a.com/x.mp4https://b.com/y.mp4",
        "https://a.comhttps://b.com/x.mp4",
        "http://http://a.com/x.mp4",
        "https://cdn.example.com/v/clip.mp4https//cdn.example.com/v/clip2.mp4",
        "http://a.com/x.mp4 http://b.com/y.mp4",
    ],
)
def test_glued_urls_are_rejected(url: str):
    with pytest.raises(UsageError, match="two URLs glued together"):
        validate_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("www.example.com/x.mp4", "no scheme"),
        ("example.com:8080/x.mp4", "no scheme"),
        ("https//example.com/x.mp4", "no scheme"),
        ("ftp://example.com/x.mp4", "not http or https"),
        ("file:///tmp/x.mp4", "not http or https"),
        ("javascript:alert(1)", "not http or https"),
        ("https:/example.com/x.mp4", "no host"),
        ("http:///x.mp4", "no host"),
        ("http://:80/x.mp4", "no host"),
        ("http://exa mple..com/x.mp4", "invalid host name"),
        ("http://-bad-.com/x.mp4", "invalid host name"),
        ("http://a..b/x.mp4", "invalid host name"),
        ("http://exa$mple.com/x.mp4", "invalid host name"),
        ("http://999.1.1.1/x.mp4", "invalid IPv4"),
        ("http://[::zz]/x.mp4", "invalid IPv6"),
        ("http://example.com:99999/x.mp4", "bad port"),
        ("http://example.com:port/x.mp4", "bad port"),
    ],
)
def test_bad_urls_have_one_line_reasons(url: str, reason: str):
    with pytest.raises(UsageError) as info:
        validate_url(url)
    assert reason in str(info.value)
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://example.com/v/clip.mp4", "https://example.com/v/clip.mp4"),
        ("  HTTPS://Example.COM/Clip.MP4  ", "https://example.com/Clip.MP4"),
        ("http://example.com:80/a.mp4", "http://example.com/a.mp4"),
        ("https://example.com:443", "https://example.com/"),
        ("http://127.0.0.1:8123/files/a.mp4", "http://127.0.0.1:8123/files/a.mp4"),
        ("http://[::1]:8080/a.mp4", "http://[::1]:8080/a.mp4"),
        ("https://bücher.example/видео.mp4", "https://bücher.example/видео.mp4"),
        ("https://例え.テスト/a.mp4?x=1&y=%20z", "https://例え.テスト/a.mp4?x=1&y=%20z"),
        ("https://e.com/a%20b.mp4#t=10", "https://e.com/a%20b.mp4"),
        ("https://e.com/a b.mp4", "https://e.com/a%20b.mp4"),
        ("https://cdn_1.e.com/a.mp4", "https://cdn_1.e.com/a.mp4"),
        ("https://user:pw@e.com/a.mp4", "https://user:pw@e.com/a.mp4"),
        # a URL inside the query, or starting a path segment (web archives), is fine
        ("https://e.com/get?u=https://f.com/a.mp4", "https://e.com/get?u=https://f.com/a.mp4"),
        (
            "https://web.archive.org/web/2020/https://e.com/a.mp4",
            "https://web.archive.org/web/2020/https://e.com/a.mp4",
        ),
        # host names that merely contain "http" are fine
        ("https://httpbin.org/a.mp4", "https://httpbin.org/a.mp4"),
        ("https://myhttp.example/a.mp4", "https://myhttp.example/a.mp4"),
    ],
)
def test_good_urls_are_normalised(url: str, normalised: str):
    assert validate_url(url) == normalised
    assert validate_url(normalised) == normalised  # idempotent


# -- parse_link_list -----------------------------------------------------------------------


def test_parse_link_list_keeps_line_numbers_and_duplicates():
    text = (
        "\ufeff# my videos\n"
        "https://e.com/a.mp4\n"
        "\n"
        "   https://e.com/b.mp4   \n"
        "  # commented out: https://e.com/c.mp4\n"
        "https://e.com/a.mp4\r\n"
        "not a url\n"
    )
    assert parse_link_list(text) == [
        (2, "https://e.com/a.mp4"),
        (4, "https://e.com/b.mp4"),
        (6, "https://e.com/a.mp4"),
        (7, "not a url"),
    ]
    assert parse_link_list("") == []
    assert parse_link_list("\n\n# only comments\n") == []


# -- is_direct_media_url ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "direct"),
    [
        ("https://e.com/a.mp4", True),
        ("https://e.com/a.MKV?token=abc", True),
        ("https://e.com/path/song.flac#x", True),
        ("https://e.com/a.webm", True),
        ("https://e.com/a.ts", True),
        ("https://e.com/a.opus", True),
        ("https://e.com/watch?v=dQw4w9WgXcQ", False),
        ("https://e.com/video/12345", False),
        ("https://e.com/page.html", False),
        ("https://e.com/", False),
        ("https://e.com/a.mp4/", False),
        ("https://e.com/download?file=a.mp4", False),
    ],
)
def test_is_direct_media_url(url: str, direct: bool):
    assert is_direct_media_url(url) is direct


# -- safe_filename ----------------------------------------------------------------------------


def test_safe_filename_examples():
    name = safe_filename("https://e.com/media/Big%20Buck%20Bunny.MP4?x=1")
    assert re.fullmatch(r"Big-Buck-Bunny-[0-9a-f]{8}\.mp4", name)  # case kept, ext lowered
    assert safe_filename("https://e.com/watch?v=1", content_type="audio/mpeg").endswith(".mp3")
    assert safe_filename("https://e.com/", index=7, content_type="video/webm; codecs=vp9") == (
        safe_filename("https://e.com/", index=7, content_type="video/webm")
    )
    assert safe_filename("https://e.com/", index=7).startswith("0007-e.com-")
    assert safe_filename("https://e.com/视频/动画.mp4").startswith("media-")
    assert safe_filename("https://e.com/../../etc/passwd").startswith("passwd-")
    # same last segment on different hosts or paths: different names
    a = safe_filename("https://a.com/v/clip.mp4")
    b = safe_filename("https://b.com/v/clip.mp4")
    assert a != b and a.startswith("clip-") and b.startswith("clip-")


url_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300)
urls = st.one_of(
    url_text,
    st.builds(
        lambda host, segs, ext, q: f"https://{host}/{'/'.join(segs)}{ext}{q}",
        st.from_regex(r"[a-z0-9]{1,12}\.(com|cn|org)", fullmatch=True),
        st.lists(url_text.filter(lambda s: "/" not in s), max_size=4),
        st.sampled_from(["", ".mp4", ".MKV", ".wav", ".tar.gz", ".", ".toolongext"]),
        st.sampled_from(["", "?a=1", "#frag", "?x=/y/z.mp4"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    url=urls,
    index=st.none() | st.integers(0, 99_999),
    ctype=st.none() | st.sampled_from(["video/mp4", "audio/wav; x=1", "text/html", "bogus"]),
)
def test_safe_filename_invariants(url: str, index: int | None, ctype: str | None):
    name = safe_filename(url, index, ctype)
    assert name == safe_filename(url, index, ctype)  # stable
    assert name.isascii() and name.isprintable()
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith((".", "-"))
    assert 1 <= len(name) <= MAX_FILENAME
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert re.search(r"-[0-9a-f]{8}(\.[a-z0-9]{1,5})?$", name)  # the URL's hash


@settings(max_examples=200, deadline=None)
@given(a=urls, b=urls)
def test_safe_filename_collision_free(a: str, b: str):
    if a.strip() != b.strip():
        assert safe_filename(a) != safe_filename(b)


@settings(max_examples=200, deadline=None)
@given(url=urls)
def test_validate_url_is_idempotent_or_rejects(url: str):
    try:
        normalised = validate_url(url)
    except UsageError as exc:
        assert "\n" not in exc.one_line()
        return
    assert validate_url(normalised) == normalised


# -- redact_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:secret@host/x.mp4", "http://user:***@host/x.mp4"),
        ("https://u:p%40ss@h.example:8443/a?b=c", "https://u:***@h.example:8443/a?b=c"),
        ("http://u:p@ss@host/x", "http://u:***@host/x"),  # an unencoded "@": urlsplit's split
        ("http://:onlypass@host/", "http://:***@host/"),
        (
            "bad URL 'http://a:b@x.com/1.mp4http://c:d@y.com/2.mp4': two URLs glued together",
            "bad URL 'http://a:***@x.com/1.mp4http://c:***@y.com/2.mp4': two URLs glued together",
        ),
        ("redirect to ftp://me:pw@files.example/x", "redirect to ftp://me:***@files.example/x"),
    ],
)
def test_redact_url_hides_passwords(text, shown):
    assert redact_url(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://u:pw@h/v.mp4?token=abc&x=1#t", "http://u:***@h/v.mp4?token=***&x=***#t"),
        (
            'HTTP Request: GET https://h/a?X-Amz-Signature=f00 "HTTP/1.1 200 OK"',
            'HTTP Request: GET https://h/a?X-Amz-Signature=*** "HTTP/1.1 200 OK"',
        ),
        ("see https://h/x?SECRET then", "see https://h/x?*** then"),  # a bare token
        ("https://h/x?a=&b=2", "https://h/x?a=&b=***"),  # nothing to hide in a=
        ("no URL ?a=b", "no URL ?a=b"),
    ],
)
def test_redact_secrets_hides_passwords_and_query_values(text, shown):
    from vidpipe.library.urls import redact_secrets

    assert redact_secrets(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "http://token@host/x.mp4",  # a user name alone is kept, as SQLAlchemy does
        "http://host:8080/x.mp4",
        "http://host/x.mp4?user=a:b@c",
        "download: HTTP 404 Not Found",
        "mail me at a:b@example.com",
        "",
    ],
)
def test_redact_url_leaves_other_text_alone(text):
    assert redact_url(text) == text


def test_rejected_url_reason_is_redacted():
    with pytest.raises(UsageError) as info:
        validate_url("http://user:secret@a.com/x.mp4http://b.com/y.mp4")
    assert "user:***@a.com" in info.value.message and "secret" not in info.value.one_line()


# -- address policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped IPv6
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("::ffff:8.8.8.8", None),
        ("2002:7f00:1::1", "loopback (6to4 127.0.0.1)"),  # 6to4 carries its IPv4
        ("2002:a00:1::1", "private (6to4 10.0.0.1)"),
        ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
        ("fec0::1", "site-local"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private (Teredo 192.0.2.45)"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (Teredo 127.0.0.1)"),
        ("64:ff9b::7f00:1", "loopback (NAT64 127.0.0.1)"),
        ("64:ff9b::808:808", "reserved"),  # NAT64 is refused whatever it carries
        ("::127.0.0.1", "loopback (IPv4-compatible 127.0.0.1)"),
    ],
)
def test_address_block_reason(address, why):
    assert address_block_reason(address) == why


def test_policy_resolves_names_and_refuses_any_private_answer():
    asked: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return {"pub.test": ["93.184.216.34"], "two.test": ["93.184.216.34", "10.9.8.7"]}[host]

    guard = UrlPolicy(allow_private=False, resolver=resolver)
    assert asyncio.run(guard.refusal("https://pub.test/x.mp4")) is None
    assert asyncio.run(guard.refusal("http://two.test:8080/x.mp4")) == (
        "two.test (10.9.8.7): private address refused (private URLs are not allowed)"
    )
    assert asyncio.run(guard.refusal("http://10.0.0.1/x")) == (
        "10.0.0.1: private address refused (private URLs are not allowed)"
    )
    assert asyncio.run(guard.refusal("http://[::1]:9/x")).startswith("::1: loopback address")
    assert asyncio.run(guard.refusal("http://93.184.216.34/x")) is None
    assert asyncio.run(guard.refusal("http://[::ffff:10.0.0.1]/x")).startswith(
        "::ffff:10.0.0.1: private"
    )
    assert asked[:2] == [("pub.test", 443), ("two.test", 8080)]  # IP literals: no lookup


def test_policy_allowing_private_resolves_nothing():
    async def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("must not resolve")

    allow = UrlPolicy(resolver=resolver)
    assert asyncio.run(allow.refusal("http://10.0.0.1/x")) is None
    assert asyncio.run(allow.refusal("http://anything.test/x")) is None


def test_policy_system_resolver_sees_localhost_as_loopback():
    # the hosts file answers: no DNS traffic
    why = asyncio.run(UrlPolicy(allow_private=False).refusal("http://localhost:1/x"))
    assert why is not None and why.startswith("localhost (") and "loopback address" in why
