"""Re-encodings of a real recording for near-duplicate tests, made with PyAV and numpy.

:func:`make_variants` writes five copies of one recording, each the way a copy found
in the wild differs from its original:

=========  ================================================================
name       how it is made
=========  ================================================================
``mp3``    LAME mp3 at 64 kbit/s (PyAV, mono, 16 kHz)
``phone``  8 kHz telephone band: 300-3400 Hz band-pass, resampled to 8 kHz
``loud``   +6 dB (samples times 2, clipped at full scale as a file would be)
``quiet``  -6 dB
``cut``    the first 0.5 s cut off
``noise``  white noise added at 20 dB signal-to-noise ratio (seeded: reproducible)
=========  ================================================================
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidpipe.media.audio import decode_audio
from vidpipe.media.audio_writer import AudioWriter

VARIANTS = ("mp3", "phone", "loud", "quiet", "cut", "noise")
SR = 16000


def write_wav(path: Path, audio: np.ndarray, rate: int = SR) -> Path:
    with AudioWriter(path, sample_rate=rate) as w:
        w.write(audio)
    return path


def write_mp3(path: Path, audio: np.ndarray, rate: int = SR, bit_rate: int = 64000) -> Path:
    """Mono mp3 at ``bit_rate`` bits per second through PyAV's libmp3lame."""
    with av.open(str(path), "w", format="mp3") as out:
        st = out.add_stream("libmp3lame", rate=rate)
        st.bit_rate = bit_rate
        st.layout = "mono"
        pts = 0
        block = 1152 * 8
        for lo in range(0, audio.shape[0], block):
            chunk = np.clip(audio[lo : lo + block], -1, 1).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += chunk.shape[0]
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return path


def _band(audio: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    spec = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / rate)
    spec[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spec, n=audio.shape[0]).astype(np.float32)


def make_variants(
    src: Path, out_dir: Path, seed: int = 0, kinds: tuple[str, ...] = VARIANTS
) -> dict[str, Path]:
    """Write the five re-encodings (six files: loud and quiet are the two gains) of
    ``src`` into ``out_dir``, or only those named in ``kinds`` (each made the same way
    whichever others are made); returns ``{variant name: path}``."""
    unknown = set(kinds) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = decode_audio(src, SR)
    stem = src.stem
    made = {}
    if "mp3" in kinds:
        made["mp3"] = write_mp3(out_dir / f"{stem}.mp3", audio)
    if "phone" in kinds:
        band = write_wav(out_dir / f".{stem}.band.wav", _band(audio, SR, 300, 3400))
        made["phone"] = write_wav(out_dir / f"{stem}.phone.wav", decode_audio(band, 8000), 8000)
        band.unlink()
    if "loud" in kinds:
        made["loud"] = write_wav(out_dir / f"{stem}.loud.wav", audio * 2.0)
    if "quiet" in kinds:
        made["quiet"] = write_wav(out_dir / f"{stem}.quiet.wav", audio * 0.5)
    if "cut" in kinds:
        made["cut"] = write_wav(out_dir / f"{stem}.cut.wav", audio[SR // 2 :])
    if "noise" in kinds:
        rng = np.random.default_rng(seed)
        power = float(np.mean(audio.astype(np.float64) ** 2))
        noise = rng.standard_normal(audio.shape[0]) * np.sqrt(power / 10 ** (20 / 10))
        made["noise"] = write_wav(out_dir / f"{stem}.noise.wav", audio + noise.astype(np.float32))
    return made
