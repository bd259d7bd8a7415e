"""The one document reader (:mod:`vidpipe.text.documents`) used by `speak` and `narrate`.

PDFs are real files written in the test by matplotlib's PDF backend (text as PDF text
objects, so pypdf extracts it) and re-encrypted or truncated with pypdf; the text is
from LJ Speech (public domain) and the README example.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from pypdf import PdfWriter

from vidpipe.errors import EXIT_INPUT, EXIT_MEDIA, InputError, MediaError
from vidpipe.speech.tts import iter_sentences
from vidpipe.text.documents import (
    Document,
    is_document,
    parse_document,
    read_document,
    read_text_argument,
)

matplotlib.use("Agg")

LINES = [
    "The art of printing.",
    "Printing differs from most of the arts and crafts.",
    "It is comparatively modern.",
]


def _pdf(
    path: Path,
    lines: list[str],
    title: str | None = "Printing",
    pages: int = 1,
    page_lines: list[list[str]] | None = None,
) -> Path:
    """A PDF of ``pages`` pages of ``lines`` (or one page per list of ``page_lines``)."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path, metadata={"Title": title} if title else None) as pdf:
        for page in page_lines or [lines] * pages:
            fig = plt.figure(figsize=(8.5, 11))
            for i, line in enumerate(page):
                fig.text(0.1, 0.9 - 0.1 * i, line)
            pdf.savefig(fig)
            plt.close(fig)
    return path


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    """A text PDF, a copy without a suffix, password-protected, owner-only, truncated, scanned."""
    d = tmp_path_factory.mktemp("pdfs")
    paper = _pdf(d / "paper.pdf", LINES)
    out = {"paper": paper}
    (d / "paper").write_bytes(paper.read_bytes())
    out["no_suffix"] = d / "paper"
    for name, user in (("locked", "secret"), ("owner_only", "")):
        writer = PdfWriter(clone_from=paper)
        writer.encrypt(user_password=user, owner_password="owner", algorithm="AES-256")
        writer.write(d / f"{name}.pdf")
        out[name] = d / f"{name}.pdf"
    data = paper.read_bytes()
    for name, size in (("cut_half", len(data) // 2), ("cut_tail", len(data) - 40)):
        (d / f"{name}.pdf").write_bytes(data[:size])
        out[name] = d / f"{name}.pdf"
    out["scan"] = _pdf(d / "scan.pdf", [], title=None, pages=2)
    return out


def test_pdf_text_title_and_pages(pdfs):
    doc = read_document(pdfs["paper"])
    assert doc.kind == "pdf" and doc.title == "Printing" and doc.pages == 1
    assert doc.paragraphs == [" ".join(LINES)]
    assert "%PDF" not in doc.text and "obj" not in doc.text
    # the header decides, not the name; an owner-password-only PDF opens with no password
    for key in ("no_suffix", "owner_only"):
        other = read_document(pdfs[key])
        assert other.kind == "pdf" and other.text == doc.text, key
    assert is_document(pdfs["no_suffix"]) and is_document("x.md")
    assert not is_document(Path(__file__).parent / "data" / "jfk.flac")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("locked", "encrypted and needs a password"),
        ("cut_half", "damaged or truncated"),
        ("cut_tail", "damaged or truncated"),
        ("scan", r"no text layer \(2 pages"),
    ],
)
def test_bad_pdfs_are_one_clear_error(pdfs, capfd, key, message):
    logger = logging.getLogger("pypdf")
    handlers, propagate = list(logger.handlers), logger.propagate
    with pytest.raises(MediaError, match=message) as info:
        read_document(pdfs[key])
    assert info.value.exit_code == EXIT_MEDIA and info.value.hint
    assert str(pdfs[key]) in str(info.value)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""  # pypdf's warnings stay quiet
    assert logger.handlers == handlers and logger.propagate == propagate  # restored


def test_text_markdown_and_encodings(tmp_path):
    txt = tmp_path / "plain.txt"
    txt.write_bytes("\ufeffFirst line.\r\n# not a heading\r\n".encode())
    doc = read_document(txt)
    assert doc == Document(text="First line.\n# not a heading\n", kind="text", source=str(txt))
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Grüße aus Köln.".encode("utf-16"))  # with its BOM
    assert read_document(utf16).text == "Grüße aus Köln."
    md = tmp_path / "notes.markdown"
    md.write_text("Intro line.\n\n## Second *part*\n\nMore [text](https://x.org).\n")
    doc = read_document(md)
    assert doc.kind == "markdown" and doc.title == "Second part"
    assert doc.paragraphs == ["Intro line.", "Second part.", "More text."]
    # bytes without a name: a PDF is sniffed, anything else is text
    assert parse_document(b"Just words.", "standard input").kind == "text"


MARKDOWN = """\
---
title: Release notes
---
# Getting started

Install **vidpipe** with `pip`, then read the [user guide](https://example.com/guide).
Questions go to <https://example.com/forum> (or https://example.com/chat).

![Pipeline diagram](docs/pipeline.png)

## Features

- Transcribe *video* and audio
- Summarize long talks
  1. by chapters
- Speak text aloud:

```bash
vidpipe speak notes.md -o notes.wav
```

> Everything runs <b>offline</b>.

<!-- internal note -->
"""


def test_markdown_is_stripped_to_speakable_text(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text(MARKDOWN, encoding="utf-8")
    doc = read_document(md)
    assert doc.title == "Release notes"
    sentences = [s for _, s in iter_sentences(doc.text)]
    assert sentences == [
        "Getting started.",
        "Install vidpipe with pip, then read the user guide.",
        "Questions go to (or).",
        "Features.",
        "Transcribe video and audio.",
        "Summarize long talks.",
        "by chapters.",
        "Speak text aloud.",
        "Everything runs offline.",
    ]
    for markup in ("#", "*", "`", "http", "[", "](", "<", ">", "Pipeline diagram", "vidpipe speak"):
        assert markup not in doc.text, markup
    # headings, list items and paragraphs are separate paragraphs
    assert [p for p, _ in iter_sentences(doc.text)] == [0, 1, 1, 2, 3, 4, 5, 6, 7]


def test_bad_text_files(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\xe9 cr\xe8me.".encode("latin-1"))
    with pytest.raises(MediaError, match="not UTF-8 text"):
        read_document(latin1)
    binary = tmp_path / "song.txt"
    binary.write_bytes((Path(__file__).parent / "data" / "jfk.flac").read_bytes())
    with pytest.raises(MediaError, match="binary file, not text"):
        read_document(binary)
    fake = tmp_path / "fake.pdf"
    fake.write_text("Not a PDF at all.", encoding="utf-8")
    with pytest.raises(MediaError, match="not a PDF"):
        read_document(fake)
    for path, message in ((tmp_path / "missing.md", "no such file"), (tmp_path, "is a folder")):
        with pytest.raises(InputError, match=message) as info:
            read_document(path)
        assert info.value.exit_code == EXIT_INPUT
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_document(fifo)  # refused without opening it (opening would block)
    # the command line's TEXT argument
    assert read_text_argument("Hello there.") == Document("Hello there.", "text", "text")
    with pytest.raises(InputError, match="no such file"):
        read_text_argument(str(tmp_path / "missing.pdf"))


def _vidpipe(args: list[str], tmp_path: Path, stdin: bytes | None = None):
    env = {**os.environ, "VIDPIPE_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=300,
    )


def test_cli_speak_reads_pdfs(pdfs, tmp_path):
    """`speak` on a PDF (or one piped in) says its text, not its bytes; a bad PDF is one line."""
    out, timings = tmp_path / "paper.mp3", tmp_path / "paper.json"
    proc = _vidpipe(
        ["speak", str(pdfs["paper"]), "-o", str(out), "--timings", str(timings)], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    said = [s["text"] for s in json.loads(timings.read_text(encoding="utf-8"))["sentences"]]
    assert said == LINES
    piped = tmp_path / "piped.json"
    proc = _vidpipe(
        ["speak", "-", "-o", str(tmp_path / "piped.wav"), "--timings", str(piped), "-q"],
        tmp_path,
        stdin=pdfs["no_suffix"].read_bytes(),
    )
    assert proc.returncode == 0, proc.stderr
    assert [s["text"] for s in json.loads(piped.read_text(encoding="utf-8"))["sentences"]] == LINES
    for key, code in (("locked", EXIT_MEDIA), ("cut_half", EXIT_MEDIA), ("scan", EXIT_MEDIA)):
        dest = tmp_path / f"{key}.wav"
        proc = _vidpipe(["speak", str(pdfs[key]), "-o", str(dest)], tmp_path)
        err = proc.stderr.decode()
        assert proc.returncode == code, err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
        assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == [
        "paper.json",
        "paper.mp3",
        "piped.json",
        "piped.wav",
    ]
