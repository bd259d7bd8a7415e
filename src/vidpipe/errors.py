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


class NotInstalledError(ModelError):
    """An optional part of vidpipe (an extra, e.g. ``diarize``) is not installed; the hint
    names the ``pip install`` that adds it. The service answers 501."""


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


# Finer classes, for front ends that answer with a status (the HTTP service maps each
# class to one status; see vidpipe.service.errors). Each derives from the class whose
# exit code it keeps on the command line.


class NotFoundError(InputError):
    """A named thing (job, file id, media item, artifact) does not exist."""


class ForbiddenError(InputError):
    """A path outside the allowed roots, or a URL to an address that is refused."""


class TooLargeError(InputError):
    """An upload or a request body is over its size limit."""


class ConflictError(UsageError):
    """The request does not fit the thing's current state (cancel a finished job...)."""


class BusyError(VidpipeError):
    """Too much work already waiting (the queue is full); try again later.

    Args:
        retry_after: seconds after which a retry makes sense.
    """

    exit_code = EXIT_REMOTE

    def __init__(self, message: str, hint: str | None = None, *, retry_after: int = 30) -> None:
        super().__init__(message, hint)
        self.retry_after = int(retry_after)


class UnavailableError(RemoteError):
    """A part the request needs (catalog, queue, workers) is not available now."""
