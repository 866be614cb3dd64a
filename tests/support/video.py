"""Small real videos for tests, encoded with PyAV (its wheel carries FFmpeg and libx264): made once per test process
and per kind, then copied where a test needs them."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import av
import numpy as np

WEBVTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello from the helpline team.\n"


@functools.cache
def video_bytes(
    seconds: int = 1, width: int = 64, height: int = 48, rate: int = 10, container: str = "mp4", codec: str = "libx264"
) -> bytes:
    """`seconds` of frames fading from black to white, as a `container` file of `codec` video."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = seconds * rate
        for number in range(frames):
            shade = int(255 * number / max(1, frames - 1))
            pixels = np.full((height, width, 3), shade, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


def write_video(path: Path, **kind: int | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(video_bytes(**kind))
    return path


def write_captions(path: Path, text: str = WEBVTT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
