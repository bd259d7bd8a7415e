"""File helpers: atomic writes, temporary names, input checks and output errors.

An interrupted run never leaves a half-written output: every output is written to a
temporary file beside it (``.<stem>.<pid>-<random>.part<suffix>``, see
:func:`temp_path`) and renamed into place. Operating-system errors on outputs become
one :class:`~vidpipe.errors.OutputError` naming the output (:func:`output_error`);
problems with inputs become :class:`~vidpipe.errors.InputError`
(:func:`check_readable_file`, :func:`check_input_path`). Output names for several
inputs that share a stem: :func:`numbered_stem`, :func:`item_stem`; file order as a
person reads it: :func:`natural_key`; a folder of pictures: :func:`image_files`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vidpipe.errors import InputError, OutputError, VidpipeError

#: Longest file name in bytes on Linux, macOS and Windows file systems (POSIX NAME_MAX).
NAME_MAX = 255
_MAX_TEMP_SUFFIX = 16  # a longer "suffix" is not an extension: keep it in the stem part

#: errno values that, on an output path, mean "this output cannot be written here".
OUTPUT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ENOENT,
        errno.ELOOP,
    }
)
#: errno values that only writing produces: safe to blame on the output anywhere.
WRITE_ONLY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def output_error(path: str | os.PathLike[str], exc: BaseException) -> VidpipeError:
    """The one-line error for an OS error met while writing the output ``path``.

    Args:
        path: the output file or folder the user asked for (named in the message).
        exc: the :class:`OSError` (or PyAV error carrying an ``errno``) that was raised.

    Returns:
        An :class:`~vidpipe.errors.OutputError` (exit 7) saying what is wrong and what
        to do: a full disk or quota, a read-only file system, no permission, a parent
        that is a file, a name too long. ``exc`` itself if it already is a vidpipe error.
    """
    if isinstance(exc, VidpipeError):
        return exc
    dest = Path(path)
    code = getattr(exc, "errno", None)
    where = getattr(exc, "filename", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(
            f"cannot write {dest}: no space left on the device"
            + (" (disk quota exceeded)" if code == errno.EDQUOT else ""),
            "free some space, or choose another output folder",
        )
    if code == errno.EFBIG:
        return OutputError(
            f"cannot write {dest}: file too large for this file system",
            "choose another output folder",
        )
    if code == errno.EROFS:
        return OutputError(
            f"cannot write {dest}: read-only file system", "choose another output folder"
        )
    if code in (errno.EACCES, errno.EPERM):
        return OutputError(
            f"cannot write {dest}: permission denied",
            "check the folder's permissions, or choose another output folder",
        )
    if code in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        blocker = _file_in_the_way(dest)
        if blocker is not None:
            return OutputError(
                f"cannot write {dest}: {blocker} is a file, not a folder",
                "choose an output path whose folders are folders",
            )
    if code == errno.EISDIR:
        return OutputError(f"cannot write {dest}: it is a folder", "give a file name, not a folder")
    if code == errno.ENAMETOOLONG:
        return OutputError(
            f"cannot write {dest}: file name too long", f"use a name of at most {NAME_MAX} bytes"
        )
    if code == errno.ELOOP:
        return OutputError(
            f"cannot write {dest}: too many levels of symbolic links",
            "fix the links, or choose another output path",
        )
    reason = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    if where and str(where) != str(dest) and not str(where).startswith(str(dest.parent) + "/."):
        reason += f": {where}"
    return OutputError(f"cannot write {dest}: {reason}", "check the output folder")


def _file_in_the_way(dest: Path) -> Path | None:
    """The nearest existing ancestor of ``dest`` if it is not a folder (else ``None``)."""
    for parent in (dest, *dest.parents):
        try:
            st = parent.stat()
        except OSError:
            continue
        return None if stat.S_ISDIR(st.st_mode) else parent
    return None


def ensure_dir(
    folder: str | os.PathLike[str], for_path: str | os.PathLike[str] | None = None
) -> Path:
    """Create ``folder`` (and its parents) if needed; return it as a :class:`Path`.

    Args:
        folder: the folder to create.
        for_path: the output file this folder is for, named in the error instead of
            ``folder`` (optional).

    Raises:
        OutputError: it cannot be created (a parent is a file, read-only, no
            permission, full disk...).
    """
    d = Path(folder)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(for_path if for_path is not None else d, exc) from exc
    return d


def temp_path(
    dest: str | os.PathLike[str], tag: str | None = None, keep_suffix: bool = True
) -> Path:
    """A temporary name beside ``dest`` that fits wherever ``dest`` fits.

    The name is ``.<stem>.<tag>.part<suffix>`` (``keep_suffix``: encoders choose
    formats by it) or ``.<name>.<tag>.part``, with ``tag`` = ``<pid>-<6 hex>`` by
    default. The stem (or name) is cut, on a UTF-8 character boundary, so that the
    whole name stays within :data:`NAME_MAX` (255) bytes for any pid up to 7 digits
    (Linux's largest ``pid_max`` is 4194304). The cut does not depend on the pid, so
    every temporary of one ``dest`` shares that part and :func:`remove_stale_temps`
    can find them.
    """
    d = Path(dest)
    tag = tag or f"{os.getpid()}-{secrets.token_hex(3)}"
    stem, suffix = _stem_suffix(d.name) if keep_suffix else (d.name, "")
    return d.with_name(f".{_cut(stem, suffix)}.{tag}.part{suffix}")


def _cut(stem: str, suffix: str) -> str:
    budget = NAME_MAX - len(os.fsencode(f"..{'9' * 7}-ffffff.part{suffix}"))
    raw = os.fsencode(stem)
    if len(raw) <= budget:
        return stem
    return os.fsdecode(raw[: max(budget, 1)].decode("utf-8", "ignore").encode("utf-8"))


def _stem_suffix(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(os.fsencode(ext)) + 1 > _MAX_TEMP_SUFFIX:
        return name, ""
    return stem, "." + ext


def _temp_pattern(dest: Path) -> re.Pattern[str]:
    """Names :func:`temp_path` gives (and the older ``.<stem>.<pid>.part<suffix>``) for ``dest``."""
    stem, suffix = _stem_suffix(dest.name)
    stem, suffix = re.escape(_cut(stem, suffix)), re.escape(suffix)
    return re.compile(rf"\.{stem}\.(?P<pid>\d+)(?:-[0-9a-f]{{6}})?\.part{suffix}")


def _is_output_oserror(exc: BaseException, tmp: Path) -> bool:
    """An OS error that is about writing ``tmp`` (not, say, about reading an input)."""
    if not isinstance(exc, OSError) or isinstance(exc, VidpipeError):
        return False
    if exc.errno in WRITE_ONLY_ERRNOS:
        return True
    where = getattr(exc, "filename", None)
    return exc.errno in OUTPUT_ERRNOS and (where is None or str(where) == str(tmp))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def remove_stale_temps(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries of ``dest`` left by processes that no longer run.

    Only regular files whose names match :func:`temp_path`'s pattern for this very
    ``dest`` (``.<stem>.<pid>[-<hex>].part<suffix>``) and whose pid is not a running
    process are removed; anything else in the folder is left alone.

    Returns:
        The removed paths (empty when the folder is missing or unreadable).
    """
    d = Path(dest)
    pattern = _temp_pattern(d)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(d.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _open_new(tmp: Path) -> int:
    """Create ``tmp`` exclusively with the mode :func:`open` would give (0666 & ~umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    return os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o666)


def _new_temp_beside(dest: Path) -> tuple[Path, int]:
    """The folder of ``dest`` made, a new temporary beside it created: its path and fd.

    Raises:
        OutputError: the folder or the temporary cannot be created (names ``dest``).
    """
    ensure_dir(dest.parent, dest)
    tmp = temp_path(dest, keep_suffix=False)
    try:
        return tmp, _open_new(tmp)
    except OSError as exc:
        raise output_error(dest, exc) from exc


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it over ``path`` on success.

    The rename is atomic on POSIX and Windows (``os.replace``), so readers see either
    the old file or the complete new one, never a partial write. On an exception the
    temporary file is removed and ``path`` is untouched. The temporary name fits
    whenever ``path``'s name does (:func:`temp_path`).

    Args:
        path: destination file.
        mode: ``"w"`` (text, UTF-8 by default) or ``"wb"``.
        **kwargs: passed to :func:`open` (``encoding``, ``newline``...).

    Raises:
        OutputError: the folder cannot be created, or the file cannot be written
            (full disk, read-only, no permission...): the message names ``path``.
    """
    dest = Path(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    tmp, fd = _new_temp_beside(dest)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if _is_output_oserror(exc, tmp):
            raise output_error(dest, exc) from exc
        raise


def write_files_together(contents: dict[Path, str | bytes]) -> list[Path]:
    """Write several files so that either all of them appear or none does.

    Every content goes to a temporary beside its destination first (text as UTF-8,
    written as given: no newline translation); only when all are written and synced
    are they renamed into place. On any failure the temporaries are removed, and so
    is every destination this call already renamed into place that did not exist
    before; files that existed before are never removed.

    Args:
        contents: destination path -> its full content.

    Returns:
        The destination paths, in the order given.

    Raises:
        OutputError: a folder or file cannot be written (the message names it).
    """
    temps: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for dest, data in contents.items():
            tmp, fd = _new_temp_beside(dest)
            temps.append((tmp, dest))
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise output_error(dest, exc) from exc
        for tmp, dest in temps:
            existed = os.path.lexists(dest)
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                raise output_error(dest, exc) from exc
            if not existed:
                created.append(dest)
    except BaseException:
        for tmp, _dest in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for dest in created:
            with contextlib.suppress(OSError):
                os.unlink(dest)
        raise
    return list(contents)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it over ``path`` on success.

    For writers that need a file name rather than a file object (encoders, PyAV).
    Before yielding, temporaries of the same ``path`` left by killed processes are
    removed (:func:`remove_stale_temps`); the temporary name carries this process's
    pid and fits whenever ``path``'s name fits (:func:`temp_path`).

    Raises:
        OutputError: the folder cannot be created, or an OS error with a writing
            errno (full disk, read-only...) escapes the body or the rename.
    """
    dest = Path(path)
    ensure_dir(dest.parent, dest)
    remove_stale_temps(dest)
    tmp = temp_path(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if _is_output_oserror(exc, tmp):
            raise output_error(dest, exc) from exc
        raise


def _special_kind(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode):
        return "a character device, not a regular file"
    if stat.S_ISBLK(mode):
        return "a block device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return None


def check_input_path(path: str | os.PathLike[str]) -> tuple[Path, os.stat_result]:
    """Check that the input ``path`` exists and is a regular file or a folder.

    Uses only ``stat`` (it never opens the path, so a FIFO cannot block it).

    Returns:
        ``(path, stat result)`` for a regular file or a folder.

    Raises:
        InputError: missing, a broken symbolic link or a symbolic link loop, a named
            pipe, a device or a socket, a parent that is not a folder, a name too
            long, or no permission to reach it; the message says which.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise _input_error(p, exc) from exc
    kind = _special_kind(st.st_mode)
    if kind is not None:
        raise InputError(f"{p}: is {kind}", "pass a media file; save a stream to a file first")
    return p, st


def _input_error(p: Path, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP:
        return InputError(f"{p}: symbolic link loop (too many levels of links)", "fix the link")
    if exc.errno == errno.ENOENT and os.path.islink(p):
        return InputError(
            f"{p}: broken symbolic link (points to {os.readlink(p)}, which does not exist)",
            "fix the link",
        )
    if exc.errno == errno.ENOENT:
        return InputError(f"{p}: no such file", "check the path")
    if exc.errno == errno.ENOTDIR:
        blocker = _file_in_the_way(p)
        where = f"{blocker} is a file, not a folder" if blocker else "a parent is not a folder"
        return InputError(f"{p}: no such file ({where})", "check the path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InputError(
            f"{p}: permission denied", "check the permissions of the file and its folders"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(f"{p}: file name too long", "check the path")
    return InputError(f"{p}: cannot read ({exc.strerror or exc})", "check the path")


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is an existing, readable, regular file (without opening it).

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        InputError: missing, a broken link or a link loop, a folder, a named pipe,
            a device, or not readable; the message says which. (An empty file is a
            :class:`~vidpipe.errors.MediaError`, raised by the decoders.)
    """
    p, st = check_input_path(path)
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a folder, not a media file", _folder_hint(p))
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied", "check the file's permissions")
    return p


def _folder_hint(p: Path) -> str:
    try:
        n = sum(1 for e in os.scandir(p) if not e.name.startswith(".") and e.is_file())
    except OSError:
        return "pass the files inside it"
    if n == 0:
        return "it holds no files; check the path"
    return f"pass the files inside it ({n} file{'s' if n != 1 else ''})"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk``-byte blocks (1 MiB by default)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- names


def natural_key(name: str) -> tuple:
    """Sort key for natural order: ``img2`` before ``img10``, case-insensitive.

    Args:
        name: a file name (or any text); digit runs compare by value.

    Returns:
        a tuple usable as ``sorted(..., key=natural_key)``.
    """
    parts = re.split(r"(\d+)", name.casefold())
    return tuple((0, int(p), p) if i % 2 else (1, 0, p) for i, p in enumerate(parts))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""File suffixes (any case) taken as pictures: the formats Pillow both reads and ships
decoders for in its wheels."""


def image_files(
    folder: str | os.PathLike[str], hint: str = "give a folder of images"
) -> list[Path]:
    """The pictures of ``folder``, in natural name order: the one image-folder scan
    (``vidpipe render --image-dir``, the ``folder:DIR`` image generator).

    Regular files directly in the folder (not recursive) whose suffix is one of
    :data:`IMAGE_SUFFIXES` in any case, hidden ones (``.name``) left out, sorted by
    :func:`natural_key` (``img2`` before ``img10``). The images are not opened here
    (their users decode and check each one).

    Args:
        folder: the folder to scan.
        hint: what the error tells the user to do (the option that named the folder).

    Returns:
        The image paths; empty when the folder has none.

    Raises:
        InputError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise InputError(f"{folder}: {what}", hint)
    found = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(found, key=lambda p: natural_key(p.name))


def numbered_stem(stem: str, used: dict[str, int]) -> str:
    """``stem`` the first time it is used, then ``stem-2``, ``stem-3``...

    Output naming for inputs that share a stem (``a.mp4`` and ``a.wav`` ->
    ``a.*`` and ``a-2.*``).

    Args:
        stem: the wanted file stem.
        used: how often each stem was asked for so far; updated in place.

    Returns:
        the stem to write.
    """
    if stem in used:
        used[stem] += 1
        return f"{stem}-{used[stem]}"
    used[stem] = 1
    return stem


def item_stem(stem: str, item_id: int, used: set[str]) -> str:
    """``stem``, or ``stem-<item_id>`` when an earlier output of the same run took it.

    Output naming for catalog items that share a stem.

    Args:
        stem: the wanted file stem (usually the media file's).
        item_id: the catalog item's id.
        used: stems taken so far; updated in place.

    Returns:
        the stem to write.
    """
    if stem in used:
        stem = f"{stem}-{item_id}"
    used.add(stem)
    return stem
