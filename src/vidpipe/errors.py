"""vidpipe's exceptions and the command line's exit codes.

Every error a user can cause derives from :class:`VidpipeError`. Its ``str()`` is
one line saying what is wrong; ``hint`` says what to do. The command line prints
``error: <message> (<hint>)`` and exits with ``exit_code``; ``--debug`` also
prints the traceback.

Exit codes (documented in the README):

====  =====================================================================
code  meaning
====  =====================================================================
0     success (every input succeeded)
1     several inputs were given and at least one failed (each one is reported)
2     bad usage: unknown option, bad option value (Typer/Click's own code)
3     input not found, a folder, a FIFO/device/socket, a broken link or link loop, unreadable
4     input is not decodable media, is truncated, or has no usable audio
5     model problem: unknown model name, missing files, checksum mismatch
6     remote engine problem: connection, HTTP error, bad response
7     output cannot be written (full disk, read-only, no permission...; files or the catalog)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_MEDIA = 4
EXIT_MODEL = 5
EXIT_REMOTE = 6
EXIT_OUTPUT = 7
EXIT_INTERRUPTED = 130


class VidpipeError(Exception):
    """Base class for errors with a one-line message and a hint.

    Args:
        message: what is wrong, one line, no trailing period needed.
        hint: what the user can do about it (optional).
    """

    exit_code: int = EXIT_SOME_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as one line, for the command line."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text


class UsageError(VidpipeError):
    """An option value or a combination of options is invalid."""

    exit_code = EXIT_USAGE


class InputError(VidpipeError):
    """The input path does not exist, is a folder, a pipe or device, or cannot be read."""

    exit_code = EXIT_INPUT


class MediaError(VidpipeError):
    """The input is not decodable media (empty, truncated, not media at all)."""

    exit_code = EXIT_MEDIA


class NoAudioError(MediaError):
    """The media has no audio stream, or the chosen stream does not exist."""


class ModelError(VidpipeError):
    """A speech model cannot be found, assembled or verified."""

    exit_code = EXIT_MODEL


class RemoteError(VidpipeError):
    """A remote engine failed: connection, HTTP status, or a malformed response."""

    exit_code = EXIT_REMOTE


class OutputError(VidpipeError):
    """An output file or folder cannot be written."""

    exit_code = EXIT_OUTPUT


class CatalogError(OutputError):
    """The catalog database cannot be opened, migrated or written."""


def excerpt(value: object, limit: int = 160, empty: str = "") -> str:
    """``value`` as one short line for an error message (a server's answer, a response
    body, an exception): bytes decoded as UTF-8 (bad bytes replaced), runs of white space
    folded to one space, cut to ``limit`` characters ending in ``…``.

    Args:
        value: anything; ``str()`` is taken of what is not bytes.
        limit: longest result, in characters (the ellipsis included).
        empty: what to return when nothing but white space is left (e.g. ``"(empty)"``).
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    text = " ".join(str(value).split())
    if not text:
        return empty
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
