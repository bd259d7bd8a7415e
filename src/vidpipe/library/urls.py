"""URLs in link lists: validation, parsing, safe file names, direct-media detection,
password redaction and the private-address policy of downloads.

Link lists written by hand or scraped from pages contain typical damage: two URLs
pasted together without a separator (``https://news.example.cnhttp//host/path.mp4``,
``http://a.com/x.mp4http://b.com/y.mp4``), missing schemes, stray spaces. A line of
a link list is split into its URLs first (:func:`split_glued`); what is still wrong is
rejected up front with a one-line reason (:func:`validate_url`) instead of failing
later as a confusing network error.

A URL may carry a password (``http://user:secret@host/x.mp4``): the catalog keeps it
(it is needed to download), but everything shown or exported passes through
:func:`redact_url` (``http://user:***@host/x.mp4``), as the catalog's own database URL
is shown with SQLAlchemy's ``render_as_string(hide_password=True)``.

:class:`UrlPolicy` decides which network addresses a download may connect to (the
guard against server-side request forgery: a link list or a redirect pointing at
``127.0.0.1``, the local network or a cloud metadata address such as
``169.254.169.254``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from vidpipe.errors import ForbiddenError, UsageError

#: File extensions (lower case, without the dot) of media a URL can point at directly.
MEDIA_EXTENSIONS = frozenset(
    {
        # video
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "asf", "flv", "ogv", "ts", "m2ts",
        "mts", "mpg", "mpeg", "3gp", "3g2",
        # audio
        "mp3", "wav", "flac", "m4a", "m4b", "aac", "ogg", "oga", "opus", "wma", "aiff", "aif",
        "amr", "mka",
    }
)  # fmt: skip

#: Extension for a ``Content-Type`` (parameters stripped), used when the URL path has none.
CONTENT_TYPE_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/x-m4v": "m4v",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/webm": "webm",
    "video/x-msvideo": "avi",
    "video/avi": "avi",
    "video/x-ms-wmv": "wmv",
    "video/x-ms-asf": "asf",
    "video/x-flv": "flv",
    "video/ogg": "ogv",
    "video/mp2t": "ts",
    "video/mpeg": "mpg",
    "video/3gpp": "3gp",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/webm": "webm",
    "audio/x-ms-wma": "wma",
    "audio/aiff": "aiff",
    "audio/x-aiff": "aiff",
    "application/ogg": "ogg",
}

#: Longest file name :func:`safe_filename` returns (well under the 255-byte limit of
#: common file systems, leaving room for a ``.part`` suffix).
MAX_FILENAME = 120

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# A scheme glued onto something: "...mp4http://", "cnhttp//", "x.comhttps:/".
_GLUED_SCHEME = re.compile(r"(?i)(?:https?|ftp)(?::/{1,2}|:?//)")


# scheme://user:PASSWORD@ -- the password runs to the last "@" before the path, as in
# urllib.parse.urlsplit (which splits the netloc at its last "@").
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/?#@:\s]*):[^/?#\s]*@")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``.

    Works on a single URL (``http://user:secret@host/x.mp4`` ->
    ``http://user:***@host/x.mp4``) and on messages quoting URLs (error reasons). A
    user name without a password is kept (as SQLAlchemy's ``hide_password`` does);
    text without a URL password comes back unchanged. Apply it wherever a source URL
    or a reason is shown or exported; never to the URL that is downloaded.
    """
    return _URL_PASSWORD.sub(r"\1:***@", text)


_URL_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#\"'<>]*\?)([^\s#\"'<>]*)")
_QUERY_VALUE = re.compile(r"(^|[&;])([^&;=]*)(=?)([^&;]*)")


def _mask_query(match: re.Match[str]) -> str:
    def one(part: re.Match[str]) -> str:
        lead, key, eq, value = part.groups()
        if not key and not value:
            return part.group(0)
        if not eq:  # a bare token (?SECRET)
            return f"{lead}***"
        return f"{lead}{key}=***" if value else part.group(0)

    return match.group(1) + _QUERY_VALUE.sub(one, match.group(2))


def redact_secrets(text: str) -> str:
    """``text`` with the password (:func:`redact_url`) and every query-string value of
    every URL in it replaced by ``***``: ``http://u:pw@h/v.mp4?token=abc&x=1`` ->
    ``http://u:***@h/v.mp4?token=***&x=***`` (the keys stay, to tell what was there).

    For what a service or a log shows to others (answers, log lines, ``vidpipe jobs``):
    a presigned URL's signature or an ``?api_key=`` is a password too. Reports and
    exports keep query strings (:func:`redact_url`), which name the video
    (``watch?v=ID``).
    """
    if "://" not in text:
        return text
    return _URL_QUERY.sub(_mask_query, redact_url(text))


def redact_data(data: Any) -> Any:
    """:func:`redact_secrets` on every string of a JSON value (dict keys kept), at any
    depth; other values unchanged. Returns a new value."""
    if isinstance(data, str):
        return redact_secrets(data)
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


_formatter = logging.Formatter()


def install_log_redaction() -> None:
    """Make every log record of this process, whichever logger made it (vidpipe's,
    httpx's ``HTTP Request: GET http://user:pw@host/...?token=...``, uvicorn's), carry
    its message with URL passwords and query values redacted (:func:`redact_secrets`),
    traceback text included. Installed once per process by the front ends (``vidpipe``
    on start, :func:`vidpipe.service.app.create_app`) as a log record factory, so it
    holds for handlers added later too; calling it again does nothing."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later
            return record
        clean = redact_secrets(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = _formatter.formatException(record.exc_info)
            record.exc_text = redact_secrets(text)
        return record

    factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _reject(reason: str, url: str) -> UsageError:
    url = redact_url(url)
    shown = url if len(url) <= 100 else url[:97] + "..."
    return UsageError(f"bad URL {shown!r}: {reason}", "fix or remove this line of the list")


def validate_url(url: str) -> str:
    """Check a media or page URL and return it normalised.

    Normalisation: surrounding whitespace removed, scheme and host lower-cased, a
    default port (80 for http, 443 for https) dropped, an empty path made ``/``, the
    fragment dropped, spaces percent-encoded. International domain names and
    percent-encoded paths are kept as they are (httpx encodes IDNs on the wire).

    A second URL inside the path is accepted when it starts a path segment
    (``https://web.archive.org/web/2020/https://example.com/x.mp4``) or sits in the
    query string (``?u=https://...``); glued to other text it is rejected.

    Raises:
        UsageError: with a one-line reason: empty, no ``http``/``https`` scheme, no
            host, an invalid host name or IP address, a bad port, or "two URLs glued
            together".
    """
    text = url.strip()
    if not text:
        raise _reject("empty", url)
    if re.search(r"\s", text):
        if _GLUED_SCHEME.search(text, 1):
            raise _reject("two URLs glued together", text)
        text = re.sub(r"\s", lambda m: urllib.parse.quote(m.group()), text)
    if not re.match(r"(?i)^[a-z][a-z0-9+-]*:", text):
        raise _reject("no scheme (it should start with http:// or https://)", text)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as exc:
        reason = str(exc)
        if "IPv4 or IPv6" in reason or "Invalid IPv6" in reason:
            reason = "invalid IPv6 address"
        raise _reject(reason, text) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if _GLUED_SCHEME.search(text, 1):
            raise _reject("two URLs glued together", text)
        raise _reject(f"scheme {parts.scheme!r} is not http or https", text)
    if not text[len(scheme) + 1 :].startswith("//"):
        raise _reject("no host (expected http:// or https://)", text)

    netloc = parts.netloc
    hostport = netloc.rpartition("@")[2]
    host = (parts.hostname or "").rstrip(".")
    if not host:
        if _GLUED_SCHEME.search(text, len(scheme) + 3):
            raise _reject("two URLs glued together", text)
        raise _reject("no host", text)
    if re.search(r"(?i)(?:https?|ftp)$", host) or re.search(r"(?i)(?:https?|ftp)(?::|$)", hostport):
        raise _reject("two URLs glued together", text)
    if parts.path.startswith("//") or _glued_in_path(parts.path):
        raise _reject("two URLs glued together", text)

    try:
        port = parts.port
    except ValueError:
        raise _reject("bad port", text) from None

    _check_host(host, text)

    lowered_host = host.lower()
    if ":" in lowered_host:  # IPv6
        lowered_host = f"[{lowered_host}]"
    default_port = {"http": 80, "https": 443}[scheme]
    new_netloc = lowered_host if port in (None, default_port) else f"{lowered_host}:{port}"
    if "@" in netloc:
        new_netloc = netloc.rpartition("@")[0] + "@" + new_netloc
    path = parts.path or "/"
    return urllib.parse.urlunsplit((scheme, new_netloc, path, parts.query, ""))


def _glued_in_path(path: str) -> bool:
    """A scheme inside the path that does not start a path segment."""
    for match in _GLUED_SCHEME.finditer(path):
        if match.start() == 0 or path[match.start() - 1] != "/":
            return True
    return False


def _check_host(host: str, url: str) -> None:
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]").split("%")[0])
        except ValueError:
            raise _reject(f"invalid IPv6 address {host!r}", url) from None
        return
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _reject(f"invalid host name {host!r}", url) from None
    if len(ascii_host) > 253:
        raise _reject("host name longer than 253 characters", url)
    labels = ascii_host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError:
            raise _reject(f"invalid IPv4 address {host!r}", url) from None
        return
    for label in labels:
        if not _LABEL.match(label):
            raise _reject(f"invalid host name {host!r}", url)


def _glue_points(chunk: str) -> list[int]:
    """Where another URL's scheme starts inside ``chunk``, glued to the text before it
    (not at a path segment's start, as in web.archive.org's ``/web/2020/https://...``,
    and not in the query string, as in ``?u=https://...``)."""
    points = []
    for match in _GLUED_SCHEME.finditer(chunk, 1):
        i = match.start()
        before = chunk[points[-1] if points else 0 : i]
        if chunk[i - 1] in "/=%&" or "?" in before:
            continue
        points.append(i)
    return points


def split_glued(line: str) -> list[str]:
    """The URLs of one link-list line: usually the line itself, or several when URLs
    were pasted together.

    ``http://a/x.mp4http://b/y.mp4`` -> ``["http://a/x.mp4", "http://b/y.mp4"]``;
    ``https://news.example.cnhttp//host/v.mp4`` -> ``["https://news.example.cn",
    "http://host/v.mp4"]`` (a scheme missing its colon or a slash is repaired in the
    pieces split off); ``http://a/x.mp4 http://b/y.mp4`` (every space-separated word
    a URL) -> both. A scheme that starts a path segment or sits in the query string is
    part of the URL (``https://web.archive.org/web/2020/https://example.com/x.mp4``,
    ``https://host/watch?u=https://...``). Text that does not start with a scheme is
    returned whole (:func:`validate_url` then says what is wrong with it).
    """
    text = line.strip()
    words = text.split()
    scheme = re.compile(r"(?i)^(?:https?|ftp):")
    chunks = words if len(words) > 1 and all(scheme.match(w) for w in words) else [text]
    out: list[str] = []
    for chunk in chunks:
        if not scheme.match(chunk) or re.search(r"\s", chunk):
            out.append(chunk)
            continue
        starts = [0, *_glue_points(chunk)]
        for a, b in zip(starts, [*starts[1:], len(chunk)], strict=True):
            piece = chunk[a:b]
            if a:
                piece = re.sub(r"(?i)^(https?|ftp):?/{1,2}", lambda m: m.group(1) + "://", piece)
            out.append(piece)
    return out


def parse_link_list(text: str) -> list[tuple[int, str]]:
    """Lines of a link list as ``(line number, stripped text)``.

    Line numbers are 1-based. Blank lines and lines starting with ``#`` (after
    leading whitespace) are left out; duplicates are kept (the caller marks them as
    skipped). A byte-order mark at the start is ignored. The text is not validated:
    pass each entry to :func:`validate_url`.
    """
    rows = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            rows.append((number, entry))
    return rows


def url_extension(url: str) -> str | None:
    """Lower-case extension (no dot) of the last path segment of ``url``, or None."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url.strip()).path)
    last = path.rpartition("/")[2]
    stem, dot, ext = last.rpartition(".")
    if not dot or not stem or not re.fullmatch(r"[A-Za-z0-9]{1,5}", ext):
        return None
    return ext.lower()


def is_direct_media_url(url: str) -> bool:
    """True when the URL's path ends in a media extension (``.mp4``, ``.wav``...).

    Query strings are ignored (``/v.mp4?token=...`` is direct media); page URLs
    (``/watch?v=...``, ``/video/123``) are not.
    """
    return url_extension(url) in MEDIA_EXTENSIONS


def _ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"([-._])[-._]+", r"\1", text)
    return text.strip("-._")


def safe_filename(url: str, index: int | None = None, content_type: str | None = None) -> str:
    """A stable, file-system-safe, collision-free file name for ``url``.

    The name is ``[INDEX-]STEM-HASH.EXT``:

    - ``INDEX``: ``index`` zero-padded to 4 digits when given (keeps list order in
      directory listings);
    - ``STEM``: the last path segment without extension, transliterated to ASCII
      (its case kept: ``Big Buck Bunny.MP4`` gives ``Big-Buck-Bunny``), runs of other
      characters replaced by ``-`` (``media`` when nothing
      is left; the host name when the path is empty);
    - ``HASH``: the first 8 hex digits of the sha256 of the whole URL, so different
      URLs with the same last segment get different names;
    - ``EXT``: the extension of the URL path (lower case) if it has one, else one
      derived from ``content_type``, else none.

    The same arguments always give the same name. The result is ASCII, has no path
    separators, does not start with a dot and is at most :data:`MAX_FILENAME` (120)
    characters.
    """
    digest = hashlib.sha256(url.strip().encode("utf-8", "surrogatepass")).hexdigest()[:8]
    parts = urllib.parse.urlsplit(url.strip())
    path = urllib.parse.unquote(parts.path)
    last = path.rstrip("/").rpartition("/")[2]
    ext = url_extension(url)
    stem = last[: -(len(ext) + 1)] if ext else last
    if ext is None and content_type:
        mime = content_type.split(";")[0].strip().lower()
        ext = CONTENT_TYPE_EXTENSIONS.get(mime)
    slug = _ascii_slug(stem)
    if not slug:
        slug = _ascii_slug(parts.hostname or "") if not last else ""
    slug = slug or "media"
    prefix = f"{index:04d}-" if index is not None else ""
    suffix = f"-{digest}" + (f".{ext}" if ext else "")
    room = MAX_FILENAME - len(prefix) - len(suffix)
    slug = slug[:room].rstrip("-._") or "media"
    return f"{prefix}{slug}{suffix}"


# -- private-address policy -----------------------------------------------------------

#: ``resolver(host, port)`` -> the IP addresses (text) a connection to ``host`` may use.
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver (``getaddrinfo``, TCP).

    Raises:
        OSError (``socket.gaierror``): the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


#: IPv6 blocks that carry an IPv4 address in their low 32 bits (NAT64, RFC 6052 and 8215)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: IPv6 site-local addresses (fec0::/10, deprecated by RFC 3879): not in ``is_private``
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the form's name:
    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), 6to4
    (``2002:AABB:CCDD::``), Teredo (server and client) and NAT64 (``64:ff9b::a.b.c.d``)."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo", server), ("Teredo", client)]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 0xFFFF:
        found.append(("IPv4-compatible", low))
    if any(ip in net for net in _NAT64):
        found.append(("NAT64", low))
    return found


def _block_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    for attribute, label in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, attribute):
            return label
    if isinstance(ip, ipaddress.IPv6Address) and ip in _SITE_LOCAL:
        return "site-local"
    if not ip.is_global:
        return "not globally routable"
    return None


def address_block_reason(address: str) -> str | None:
    """Why a connection to IP ``address`` is refused with the guard on, or None if public.

    An IPv6 address that carries an IPv4 address (IPv4-mapped ``::ffff:10.0.0.1``,
    IPv4-compatible ``::10.0.0.1``, 6to4 ``2002:7f00:1::1``, Teredo, NAT64
    ``64:ff9b::7f00:1``) is judged as each IPv4 address it carries too (the reason
    then names the form: ``loopback (6to4 127.0.0.1)``). Checked in order (the first
    match names the reason), with the registries of Python's :mod:`ipaddress` (IANA
    special-purpose address registries): ``loopback`` (127.0.0.0/8, ::1),
    ``unspecified`` (0.0.0.0, ::), ``link-local`` (169.254.0.0/16 with the cloud
    metadata address, fe80::/10), ``multicast``, ``reserved`` (240.0.0.0/4...),
    ``private`` (10/8, 172.16/12, 192.168/16, fc00::/7, documentation ranges...),
    ``site-local`` (fec0::/10), and ``not globally routable`` for the rest of what
    ``is_global`` excludes (100.64.0.0/10 carrier-grade NAT...).

    Raises:
        ValueError: ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        for form, v4 in _embedded_ipv4(ip):
            why = _block_reason(v4)
            if why is not None:
                return why if form == "IPv4-mapped" else f"{why} ({form} {v4})"
        if ip.ipv4_mapped is not None:
            return None  # judged as the IPv4 address it is
    return _block_reason(ip)


@dataclass(frozen=True)
class UrlPolicy:
    """Which hosts a download may connect to; checked before every request and redirect.

    Attributes:
        allow_private: True (the command line's default: your own network is yours to
            download from) allows every address and resolves nothing. False (the
            command line's ``--no-private-urls``; what a service open to others must
            use) refuses a URL when any address of its host is loopback, private,
            link-local, multicast, reserved or unspecified (:func:`address_block_reason`).
        resolver: how host names become addresses (default :func:`system_resolver`).
            Injectable so that tests can give a test name (``public.test``) a public
            address without any DNS: a test cannot reach a real public server, so it
            sends the request to its loopback server through an HTTP proxy while the
            policy sees the public address the resolver returns.

    What remains: the check and httpx's own connection resolve the name separately,
    so a DNS server that answers differently the second time (DNS rebinding) is not
    caught; connections are not pinned to the checked address.
    """

    allow_private: bool = True
    resolver: Resolver | None = None

    async def refusal(self, url: str) -> str | None:
        """Why the guard refuses ``url`` (one line naming the host and address), or None.

        ``url`` must be absolute http(s). IP literals are judged as they are; host
        names are resolved with :attr:`resolver` and refused if any address is not
        public (a name with one public and one private address is refused: the
        connection could use either).

        Raises:
            OSError: the host name does not resolve (``socket.gaierror``).
        """
        if self.allow_private:
            return None
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            port = 80
        try:
            addresses: list[str] = [str(ipaddress.ip_address(host.split("%", 1)[0]))]
        except ValueError:
            addresses = []
        literal = bool(addresses)
        if not literal:
            resolve = self.resolver or system_resolver
            addresses = list(await resolve(host, port))
            if not addresses:
                raise socket.gaierror(f"no address for {host}")
        for address in addresses:
            why = address_block_reason(address)
            if why is not None:
                shown = host if literal else f"{host} ({address})"
                return f"{shown}: {why} address refused (private URLs are not allowed)"
        return None


async def check_url(url: str, policy: UrlPolicy, what: str | None = None) -> str:
    """``url`` normalised, when it is http(s) and ``policy`` allows its host: the check
    of a URL input before anything is fetched (the service's ``/generateVideo`` and
    ``/encode_audio``, the video service's Redis tasks). Nothing is sent to the host:
    only its name is resolved (with the policy's resolver; not at all when the policy
    allows private addresses).

    Args:
        url: the URL as given.
        policy: the :class:`UrlPolicy` (``allow_private=False`` for input from others).
        what: how the input named it (``audio_path``), put before the message.

    Returns:
        The normalised URL (:func:`validate_url`).

    Raises:
        UsageError: not an http(s) URL, malformed (the reason), or its host does not
            resolve.
        ForbiddenError: the host resolves to a refused address.
    """
    prefix = f"{what}: " if what else ""
    try:
        clean = validate_url(url)
    except UsageError as exc:
        raise UsageError(prefix + exc.message, "give an http:// or https:// URL") from None
    try:
        refusal = await policy.refusal(clean)
    except OSError as exc:
        host = urllib.parse.urlsplit(clean).hostname
        raise UsageError(
            f"{prefix}cannot resolve {host}: {exc.strerror or exc}", "check the URL's host name"
        ) from None
    if refusal is not None:
        raise ForbiddenError(
            prefix + refusal,
            "give a public URL (VIDPIPE_ALLOW_PRIVATE_URLS=1 allows private ones)",
        )
    return clean
