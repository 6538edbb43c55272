"""Video files in and out through PyAV, the optional `video` extra.

PyAV rather than imageio-ffmpeg: its wheel (about 36 MB against 68 MB) ships FFmpeg's libraries, libx264
included, and decodes in the process straight to NumPy frames, where imageio-ffmpeg pipes raw frames
through an `ffmpeg` subprocess. Only a video input needs it, so it is imported here, when one is met.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..artifacts import atomic_path
from ..errors import EdgeDepthError, first_line

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
INSTALL = "pip install 'edgedepth[video]'"
#: Encoders tried in order for a depth video: H.264 plays everywhere (PyAV's wheels ship libx264); MPEG-4
#: part 2 is FFmpeg's own encoder, present in any FFmpeg build PyAV may have been compiled against.
CODECS = ("libx264", "mpeg4")
#: Frame rate written when the source does not say its own.
DEFAULT_FPS = 30


def require_av(path: str | os.PathLike):
    """The `av` module, or a one-line error naming the extra to install."""
    try:
        import av
    except ImportError:
        raise EdgeDepthError(f"{path} is a video, and reading video needs PyAV, which is not installed: {INSTALL}")
    return av


def _open(path: Path):
    av = require_av(path)
    if not path.is_file():
        raise EdgeDepthError(f"video {path} not found; check the path")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise EdgeDepthError(f"video {path} is unreadable ({first_line(exc)}); is it a video file?")
    if not container.streams.video:
        container.close()
        raise EdgeDepthError(f"{path} holds no video stream; pass a video file")
    return container


def probe(path: str | os.PathLike) -> tuple[Fraction, int]:
    """(frame rate, frame count; 0 when the container does not record it), read from the header only."""
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        return Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS), int(stream.frames or 0)


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The video's frames in order, each H×W×3 uint8 RGB."""
    path = Path(path)
    av = require_av(path)
    with _open(path) as container:
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            raise EdgeDepthError(f"video {path} is damaged ({first_line(exc)}); re-encode or re-copy it")


def _encoder(av) -> str:
    for codec in CODECS:
        try:
            av.codec.Codec(codec, "w")
            return codec
        except Exception:  # PyAV raises UnknownCodecError, or ValueError in older versions
            continue
    raise EdgeDepthError(f"this PyAV's FFmpeg has none of the encoders {', '.join(CODECS)}; {INSTALL}")


@contextlib.contextmanager
def writing_video(path: str | os.PathLike, fps: Fraction) -> Iterator[Callable[[np.ndarray], None]]:
    """Yield `write(frame)` for H×W×3 uint8 RGB frames of one size; the MP4 appears at `path` only when the
    block ends without error. Odd sizes get one edge row/column repeated (4:2:0 video needs even sizes)."""
    av = require_av(path)
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), "w", format="mp4")
        stream = None

        def write(frame: np.ndarray) -> None:
            nonlocal stream
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
            if stream is None:
                stream = container.add_stream(_encoder(av), rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)

        try:
            yield write
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
        finally:
            container.close()
