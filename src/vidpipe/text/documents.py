"""Read documents to speak: plain text, Markdown and PDF, one reader for every command.

:func:`read_document` takes a ``.txt``, ``.md``/``.markdown`` or ``.pdf`` file (a PDF is
also recognised by its ``%PDF-`` header whatever its name) and returns a
:class:`Document`: the speakable text with paragraphs separated by blank lines, a
title when the file has one, and the kind it was read as. :func:`read_text_argument`
is the command line's ``TEXT`` argument: ``-`` (standard input), a file, or the text
itself.

* Text is UTF-8; a UTF-8 BOM is dropped, and UTF-16 with a BOM is decoded too. A file
  with NUL bytes in its first 8 KiB (and no UTF-16 BOM) is binary, not text.
* Markdown is converted to plain text with ``markdown-it-py`` (:func:`markdown_to_text`).
* Plain text and PDF text are read as documents too (:func:`structure_paragraphs`):
  headings (a numbered section "2 Method and results", a named one "Abstract", a
  document's title line, a short Title Case or CAPITALS line) and list items ("- ",
  "• ", "1. ", "a) ") become paragraphs of their own ending in a period, with section
  numbers and list markers dropped, so they are spoken as sentences of their own
  after a pause (and never run into the next sentence: "…for small farms Abstract").
* PDF text comes from ``pypdf`` (its text layer, page by page). A PDF protected only by
  an owner password (the empty user password) is read; one that needs a password,
  a damaged or truncated one, and a scan without a text layer are each one
  :class:`~vidpipe.errors.MediaError` (exit 4). pypdf's log messages and warnings are
  kept from stderr; the first one is quoted in the error when reading fails.

Errors: a missing file, a folder or a file without read permission is an
:class:`~vidpipe.errors.InputError` (exit 3); content that cannot be turned into text
(binary, not UTF-8, a bad PDF) is a :class:`~vidpipe.errors.MediaError` (exit 4).
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import stat
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidpipe.errors import InputError, MediaError
from vidpipe.text.sentences import ends_sentence

__all__ = [
    "DOCUMENT_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "Document",
    "is_document",
    "looks_like_heading",
    "markdown_to_text",
    "parse_document",
    "read_document",
    "read_text_argument",
    "structure_paragraphs",
]

DocumentKind = Literal["text", "markdown", "pdf"]

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
"""File suffixes read as Markdown (case-insensitive)."""

TEXT_SUFFIXES = (".txt", ".text")
"""File suffixes read as plain text."""

DOCUMENT_SUFFIXES = (*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, ".pdf")
"""Every suffix :func:`read_document` knows; other files are read as text unless they
start with ``%PDF-``."""

PDF_MAGIC = b"%PDF-"
"""A PDF file starts with this header; readers accept it within the first 1024 bytes
(Adobe PDF Reference, implementation note 13), so :func:`parse_document` does too."""

SNIFF_BYTES = 8192
"""Bytes looked at to tell a binary file from text (a NUL byte among them = binary)."""

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Document:
    """A document's speakable text.

    Attributes:
        text: plain text, paragraphs separated by one blank line, ending in a newline
            (``""`` when the file holds no text at all).
        kind: ``"text"``, ``"markdown"`` or ``"pdf"``: how it was read.
        source: the path, or ``"standard input"`` / ``"text"`` for an argument.
        title: the Markdown front matter ``title:`` or first heading, or the PDF's
            ``/Title`` metadata; ``None`` when there is none.
        pages: the PDF's page count (``None`` for text and Markdown).
    """

    text: str
    kind: DocumentKind
    source: str
    title: str | None = None
    pages: int | None = None

    @property
    def paragraphs(self) -> list[str]:
        """The paragraphs of :attr:`text` (split at blank lines, stripped, none empty)."""
        return [p.strip() for p in re.split(r"\n[ \t]*\n", self.text) if p.strip()]


# --------------------------------------------------------------------------- entry points


def is_document(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read as a document (by suffix, or a PDF by its header).

    For callers that take both documents and media (``narrate``): a ``.txt``, ``.md``,
    ``.markdown`` or ``.pdf`` name, or a file starting with ``%PDF-`` (within 1024 bytes).
    An unreadable file is not a document (the media reader then reports it).
    """
    p = Path(path)
    if p.suffix.lower() in DOCUMENT_SUFFIXES:
        return True
    try:
        with open(p, "rb") as fh:
            return PDF_MAGIC in fh.read(1024)
    except OSError:
        return False


def read_document(path: str | os.PathLike[str]) -> Document:
    """Read a ``.txt``, ``.md`` or ``.pdf`` file as speakable text.

    The kind is the PDF header when the file starts with ``%PDF-``, else the suffix
    (Markdown suffixes: :data:`MARKDOWN_SUFFIXES`; anything else is plain text). A
    binary file is refused after reading only its first :data:`SNIFF_BYTES` bytes.

    Args:
        path: the file.

    Returns:
        The :class:`Document`.

    Raises:
        InputError: no such file, a directory, or it cannot be read (exit 3).
        MediaError: binary, not UTF-8, or a PDF that is damaged, truncated, needs a
            password or has no text layer (exit 4).
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError as exc:
        raise InputError(f"{p}: no such file", "check the path") from exc
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}", "check the path") from exc
    if stat.S_ISDIR(mode):
        raise InputError(f"{p}: is a folder, not a document", "pass a .txt, .md or .pdf file")
    if not stat.S_ISREG(mode):  # a FIFO or device: opening it could block or never end
        raise InputError(
            f"{p}: is not a regular file (a pipe or device)", "pass a file, or - for standard input"
        )
    try:
        with open(p, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
            kind = _sniff(head, p.suffix.lower())
            if kind != "pdf" and _is_binary(head):
                raise _binary_error(str(p))
            data = head + fh.read()
    except FileNotFoundError as exc:
        raise InputError(f"{p}: no such file", "check the path") from exc
    except PermissionError as exc:
        raise InputError(f"{p}: permission denied", "check the file's permissions") from exc
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}", "check the file") from exc
    return parse_document(data, str(p), kind)


def parse_document(data: bytes, source: str, kind: DocumentKind | None = None) -> Document:
    """Turn a document's bytes into a :class:`Document`.

    Args:
        data: the file's bytes.
        source: its name for messages (a path, ``"standard input"``).
        kind: ``"text"``, ``"markdown"`` or ``"pdf"``; ``None`` sniffs: ``%PDF-`` is a
            PDF, anything else plain text. Bytes that start with ``%PDF-`` are always
            read as a PDF.

    Raises:
        MediaError: binary, not UTF-8, or an unreadable PDF (see :func:`read_document`).
    """
    if PDF_MAGIC in data[:1024]:
        kind = "pdf"
    if kind == "pdf":
        return _read_pdf(data, source)
    text = _decode_text(data, source)
    if kind == "markdown":
        return Document(
            text=markdown_to_text(text), kind="markdown", source=source, title=_md_title(text)
        )
    blocks = structure_paragraphs(text)
    if blocks is not None:
        text = "".join(f"{b}\n\n" for b in blocks).rstrip("\n") + "\n"
    return Document(text=text, kind="text", source=source)


def read_text_argument(value: str) -> Document:
    """The command line's ``TEXT`` argument: ``-``, a document file, or the text itself.

    ``-`` reads standard input (bytes, sniffed: a PDF piped in is read as one). A
    value naming an existing file is read with :func:`read_document`. A value that
    looks like a file name (no spaces, a :data:`DOCUMENT_SUFFIXES` ending) but does not
    exist is an error rather than text to speak; any other value is the text.

    Returns:
        A :class:`Document` (``source`` ``"text"`` and ``kind`` ``"text"`` for a literal).

    Raises:
        InputError, MediaError: as :func:`read_document`.
    """
    if value == "-":
        return parse_document(sys.stdin.buffer.read(), "standard input")
    if os.path.lexists(value):
        return read_document(value)
    stripped = value.strip()
    if (
        stripped
        and not any(c.isspace() for c in stripped)
        and stripped.lower().endswith(DOCUMENT_SUFFIXES)
    ):
        raise InputError(f"{stripped}: no such file", "check the path, or quote the text")
    return Document(text=value, kind="text", source="text")


# --------------------------------------------------------------------------- text


def _sniff(head: bytes, suffix: str) -> DocumentKind:
    if PDF_MAGIC in head[:1024]:
        return "pdf"
    if suffix == ".pdf":
        return "pdf"  # no header: _read_pdf says it is not a PDF
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return "text"


def _is_binary(head: bytes) -> bool:
    return b"\x00" in head and not head.startswith(_UTF16_BOMS)


def _binary_error(where: str) -> MediaError:
    return MediaError(
        f"{where}: is a binary file, not text", "pass a UTF-8 .txt, .md or a .pdf file"
    )


def _decode_text(data: bytes, where: str) -> str:
    """UTF-8 (BOM dropped) or BOM-marked UTF-16 bytes to ``str``; newlines normalised."""
    if data.startswith(_UTF16_BOMS):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise MediaError(
                f"{where}: is not valid UTF-16 text (bad bytes at offset {exc.start})",
                "save it as UTF-8",
            ) from exc
    else:
        if _is_binary(data[:SNIFF_BYTES]):
            raise _binary_error(where)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MediaError(
                f"{where}: is not UTF-8 text (bad byte at offset {exc.start})",
                "convert it, e.g. iconv -f latin1 -t utf-8 FILE > FILE.txt",
            ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- PDF


class _Collect(logging.Handler):
    """Keeps the messages pypdf logs while a PDF is read (instead of printing them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[_Collect]:
    """Route pypdf's logger (``pypdf``) and its warnings away from stderr, collected.

    pypdf logs recoverable problems ("EOF marker not found", "Ignoring wrong pointing
    object") as WARNING records, which Python's last-resort handler prints to stderr,
    and issues ``PdfReadWarning`` warnings; neither belongs on vidpipe's one-line output.
    """
    logger = logging.getLogger("pypdf")
    handler = _Collect()
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate
    handler.messages.extend(" ".join(str(w.message).split()) for w in caught)


def _read_pdf(data: bytes, source: str) -> Document:
    """The text layer of a PDF, one paragraph per blank-line block, pages in order."""
    from io import BytesIO

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if PDF_MAGIC not in data[:1024]:
        raise MediaError(
            f"{source}: is not a PDF (no %PDF- header)", "check the file, or rename it"
        )
    with _quiet_pypdf() as log:
        try:
            reader = PdfReader(BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise MediaError(
                    f"{source}: the PDF is encrypted and needs a password",
                    "save an unprotected copy, e.g. qpdf --decrypt --password=PW IN.pdf OUT.pdf",
                )
            pages = [page.extract_text() or "" for page in reader.pages]
            title = _pdf_title(reader)
        except MediaError:
            raise
        except (FileNotDecryptedError, DependencyError) as exc:
            raise MediaError(
                f"{source}: the PDF is encrypted and cannot be read ({exc})",
                "save an unprotected copy of it",
            ) from exc
        except Exception as exc:
            # pypdf raises PdfReadError and, on damaged files, plain KeyError,
            # IndexError, ValueError, struct.error, zlib.error... from deep inside.
            raise _damaged(source, exc, log.messages) from exc
    paragraphs = [
        p
        for n, page in enumerate(pages)
        for p in (structure_paragraphs(page, first_is_title=n == 0) or _pdf_paragraphs(page))
    ]
    if not paragraphs:
        raise MediaError(
            f"{source}: the PDF has no text layer ({len(pages)} page"
            f"{'s' if len(pages) != 1 else ''} of images: a scan?)",
            "export it as text first, or run OCR on it (e.g. ocrmypdf)",
        )
    text = "".join(f"{p}\n\n" for p in paragraphs).rstrip("\n") + "\n"
    return Document(text=text, kind="pdf", source=source, title=title, pages=len(pages))


def _damaged(source: str, exc: BaseException, logged: list[str]) -> MediaError:
    detail = " ".join(str(exc).split())[:120] or type(exc).__name__
    first = next((m for m in logged if m and m not in detail), None)
    why = f"{detail}; {first}" if first else detail
    return MediaError(
        f"{source}: the PDF is damaged or truncated ({why})", "check the file, or download it again"
    )


def _pdf_title(reader) -> str | None:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # a damaged /Info dictionary only loses the title
        return None
    title = " ".join(str(title).split()) if title else ""
    return title or None


def _pdf_paragraphs(page: str) -> list[str]:
    """A page's extracted text as paragraphs: split at blank lines, lines joined."""
    out = []
    for block in re.split(r"\n[ \t]*\n", page.replace("\r\n", "\n").replace("\r", "\n")):
        text = " ".join(block.split())
        if text:
            out.append(text)
    return out


# --------------------------------------------------------------------------- structure

_SECTION_NAMES = re.compile(
    r"(?:abstract|introduction|background|related work|methods?|materials and methods|"
    r"results|discussion|conclusions?|summary|references|bibliography|"
    r"acknowledge?ments|appendix|keywords|overview|contents|table of contents|"
    r"摘要|引言|前言|背景|方法|结果|讨论|结论|参考文献|致谢|目录|附录|关键词)\s*[:：]?",
    re.IGNORECASE,
)
# "2 Method", "2.1 Results", "3. Discussion", "IV. Conclusion", "A. Appendix", "一、引言",
# "第一章 背景"
_NUMBERED = re.compile(
    r"(?:(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.|[A-H]\.)\s+"
    r"|[一二三四五六七八九十]{1,3}[、.．]\s*"
    r"|第[一二三四五六七八九十\d]{1,3}[章节部分篇]\s*)(\S.*)"
)
_BULLET = re.compile(r"[-*•▪◦‣–—]\s+(\S.*)")
_ENUMERATED = re.compile(r"\(?(?:\d{1,2}|[a-z])[.)]\s+(\S.*)")
_NOT_A_HEADING_END = tuple(".,;!?…-–—\"'”’)»。，；！？")
HEADING_WORDS = 10
"""A heading has at most this many words (a Title Case line without a number: 8)."""


def _starts_upper(text: str) -> bool:
    return bool(text) and (text[0].isupper() or text[0].isdigit() or not text[0].isascii())


def _title_case(line: str) -> bool:
    """Every word of 4+ letters capitalised ("Drip Irrigation for Small Farms"), or
    capitals only ("RESULTS")."""
    words = re.findall(r"[^\W\d_]+", line)
    long = [w for w in words if len(w) >= 4]
    return bool(words) and (line.isupper() or (bool(long) and all(w[0].isupper() for w in long)))


def _opens(prev: str | None, prev_marked: bool) -> bool:
    """Whether a line opens a paragraph: first of its block, after a sentence end or a
    colon, or after a heading or a list item's line (``prev_marked``)."""
    return prev is None or prev_marked or ends_sentence(prev) or prev.endswith(":")


def _heading(
    line: str, prev: str | None, nxt: str | None, first: bool, prev_marked: bool = False
) -> str | None:
    """The speakable text of ``line`` if it is a heading (see :func:`structure_paragraphs`)."""
    if line.endswith(_NOT_A_HEADING_END) or nxt is None:
        return None
    if _SECTION_NAMES.fullmatch(line):
        return line.rstrip(" :：")
    opens = _opens(prev, prev_marked)
    if not opens or not _starts_upper(nxt):
        return None
    m = _NUMBERED.fullmatch(line)
    if m and _starts_upper(m.group(1)) and len(m.group(1).split()) <= HEADING_WORDS:
        return m.group(1)
    if len(line.split()) <= 8 and _starts_upper(line) and (first or _title_case(line)):
        return line
    return None


def _item(line: str, prev: str | None, prev_marked: bool) -> str | None:
    """The text of ``line`` without its marker if it is a list item."""
    m = _BULLET.fullmatch(line)
    if m:
        return m.group(1)
    m = _ENUMERATED.fullmatch(line)
    if m and _opens(prev, prev_marked):
        return m.group(1)
    return None


# A short sentence with one of these words says something; without them it names
# something (a heading: "Abstract.", "Method and results.").
_EN_CLAUSE_TEXT = (
    "i you he she it we they me him her us them this these those there here is are "
    "was were be been am has have had do does did will would can could shall should "
    "may might must not no yes thank thanks hello hi good please let"
)
_EN_CLAUSE_WORDS = frozenset(_EN_CLAUSE_TEXT.split())
_ZH_CLAUSE_CHARS = frozenset("我你他她它们是有在了吗呢吧这那")


def looks_like_heading(sentence: str, language: str | None) -> bool:
    """Whether one sentence of spoken text reads as a heading: short (at most 6 words, 12
    characters in Chinese), capitalised, and naming rather than saying something: no
    pronoun, auxiliary verb or greeting ("Abstract.", "Method and results."; not "It is
    modern.", "Thank you."); in Chinese a section name ("摘要") or a phrase ending in a
    noun by jieba's part-of-speech tags ("研究背景", not "水资源短缺"). English and
    Chinese; ``False`` for other languages."""
    from vidpipe.text.sentences import primary_language

    lang = primary_language(language)
    first = sentence.strip().rstrip(".。!?！？").strip()
    if lang == "en":
        toks = re.findall(r"[A-Za-z']+", first)
        return bool(
            toks
            and len(first.split()) <= 6
            and first[:1].isupper()
            and not any(t.lower() in _EN_CLAUSE_WORDS for t in toks)
        )
    if lang == "zh":
        if not first or len(first) > 12 or set(first) & _ZH_CLAUSE_CHARS:
            return False
        if _SECTION_NAMES.fullmatch(first):
            return True
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        tags = jieba.posseg.lcut(first)
        return bool(tags) and (tags[-1].flag[0] == "n" or tags[-1].flag == "vn")
    return False


def structure_paragraphs(text: str, *, first_is_title: bool = True) -> list[str] | None:
    """Paragraphs of plain (or PDF) text, with headings and list items made paragraphs of
    their own; ``None`` when the text has neither (it is then left as it is).

    Lines are read within blank-line blocks. A line is a **heading** when it does not
    end in punctuation, some text follows it, and it is a named section ("Abstract",
    "Introduction", "References"...), or it opens a paragraph (the line before ends a
    sentence) before a capitalised line and is a numbered section of at most
    :data:`HEADING_WORDS` words ("2 Method and results", "2.1 Method", "IV. Results":
    the number is dropped), a Title Case or CAPITALS line of at most 8 words, or the
    document's first line (its title; ``first_is_title``). A line starting with a
    bullet (``- * •``...) or, where a paragraph opens, an enumerator (``1.``, ``2)``,
    ``a)``) is a **list item** (the marker is dropped); its following lines continue it.
    Headings and list items end with a period (``。`` after CJK) so they are spoken as
    sentences of their own, and so does text cut short by a heading (a title's lines).

    Returns:
        The paragraphs, each one line (its lines joined with spaces), or ``None``.
    """
    out: list[str] = []
    found = False
    first = first_is_title
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [" ".join(ln.split()) for ln in block.split("\n")]
        lines = [ln for ln in lines if ln]
        cur: list[str] = []
        in_list = False
        prev: str | None = None

        def flush(terminate: bool) -> None:
            nonlocal cur
            if cur:
                para = " ".join(cur)
                out.append(_terminate(para) if terminate else para)
            cur = []

        marked = False  # the line before was a heading or a list item's first line
        for i, line in enumerate(lines):
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            head = _heading(line, prev, nxt, first and i == 0, marked)
            item = None if head else _item(line, prev, marked)
            if head is not None:
                flush(terminate=True)
                out.append(_terminate(head))
                found, in_list = True, False
            elif item is not None:
                flush(terminate=True)
                cur = [item]
                found, in_list = True, True
            else:
                cur.append(line)
            prev, marked = line, head is not None or item is not None
        flush(terminate=in_list)
        first = first and not lines
    return out if found else None


# --------------------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
# A URL ends before trailing punctuation or a closing bracket ("(see https://x.org).").
_URL = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"]*[^\s<>\"'.,;:!?)\]}]")
_HTML_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.S)


def _md_title(markdown: str) -> str | None:
    """``title:`` in YAML front matter, else the text of the first heading, else ``None``."""
    m = _FRONT_MATTER.match(markdown)
    if m:
        t = re.search(r"^title:[ \t]*(.+?)[ \t]*$", m.group(1), re.M)
        if t:
            return t.group(1).strip("\"'") or None
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(_FRONT_MATTER.sub("", markdown))
    for i, tok in enumerate(tokens[:-1]):
        if tok.type == "heading_open":
            text = _inline_text(tokens[i + 1].children or [])
            if text:
                return " ".join(text.split())
    return None


def markdown_to_text(markdown: str) -> str:
    """Markdown to plain speakable text, with ``markdown-it-py`` (CommonMark + tables).

    Kept: the text of paragraphs, headings, list items, block quotes, table cells
    (joined with commas), link text, inline code. Dropped: link targets and bare
    URLs, images (with their alt text), code blocks and fences, HTML tags and
    comments (text between tags is kept), emphasis/strike markers, list bullets and
    numbers, rules, YAML front matter, section numbers of headings ("## 2 Method": "Method").
    Headings, list items and table rows that do
    not end a sentence get a period (``。`` after CJK text) so they are spoken and
    timed as sentences of their own.

    Returns:
        Paragraphs separated by blank lines: each paragraph, heading, list item and
        table row is one (so they are read with a paragraph pause between).
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = parser.parse(_FRONT_MATTER.sub("", markdown))
    blocks: list[str] = []
    in_list = 0
    heading = False
    cells: list[str] | None = None
    for tok in tokens:
        kind = tok.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            in_list += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            in_list -= 1
        elif kind == "heading_open":
            heading = True
        elif kind == "heading_close":
            heading = False
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close":
            row = ", ".join(c for c in (cells or []) if c)
            if row:
                blocks.append(_terminate(row))
            cells = None
        elif kind == "inline":
            text = _inline_text(tok.children or [])
            if not text:
                continue
            if cells is not None:
                cells.append(" ".join(text.split()))
            elif heading:  # "## 2 Method" is read "Method."
                m = _NUMBERED.fullmatch(text)
                blocks.append(_terminate(m.group(1) if m else text))
            elif in_list:
                blocks.append(_terminate(text))
            else:
                blocks.append(text)
        elif kind == "html_block":
            text = _tidy(_URL.sub("", html.unescape(_HTML_TAG.sub(" ", tok.content))))
            if text:
                blocks.append(text)
        # fence, code_block, hr, blockquote and paragraph markers: nothing to say
    return "".join(f"{b}\n\n" for b in blocks).rstrip("\n") + "\n" if blocks else ""


def _inline_text(children) -> str:
    """The speakable text of an inline token's children (see :func:`markdown_to_text`)."""
    out: list[str] = []
    autolink = False
    for child in children:
        kind = child.type
        if kind == "link_open":
            autolink = child.markup == "autolink"
        elif kind == "link_close":
            autolink = False
        elif kind in ("text", "code_inline") and not autolink:
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "html_inline":
            out.append(" ")  # <br>, <b>...: the tag goes, the words stay apart
        # image (with its alt text), em/strong/s markers: dropped
    text = _URL.sub("", "".join(out))
    lines = [_tidy(line) for line in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _tidy(line: str) -> str:
    """Collapse spaces, drop brackets emptied by removed URLs, no space before punctuation."""
    line = re.sub(r"\(\s*\)|\[\s*\]", " ", " ".join(line.split()))
    return re.sub(r"\s+([.,;:!?…)\]])", r"\1", " ".join(line.split()))


def _terminate(text: str) -> str:
    """``text`` ending a sentence: a period (or ``。``) added unless it already ends one."""
    text = text.strip()
    if not text or ends_sentence(text):
        return text
    text = text.rstrip(":;,、，：；- ")
    if not text:
        return text
    return text + (
        "。" if re.match(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text[-1]) else "."
    )
