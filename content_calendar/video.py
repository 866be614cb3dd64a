"""A video file probed (container, codec, length, size, dimensions, frame rate) with PyAV, which carries FFmpeg's
own demuxers; caption files checked for WebVTT. Only headers are read, never the frames."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from content_calendar.model import VideoLimits

SUPPORTED_VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".webm"})
CAPTION_SUFFIX = ".vtt"
_CODEC_NAMES = {"h264": "H.264", "hevc": "H.265 (HEVC)", "vp9": "VP9", "vp8": "VP8", "av1": "AV1", "mpeg4": "MPEG-4"}
_FIX_EXPORT = "Export it again as an MP4 file with H.264 video (e.g. HandBrake's 'Fast 1080p30' preset)."


class VideoProblem(Exception):
    """A video or caption file that cannot be used: `code` is a Problem code, `message` what is wrong, `fix`
    what to do."""

    def __init__(self, code: str, message: str, fix: str):
        self.code = code
        self.message = message
        self.fix = fix
        super().__init__(f"{message} Fix: {fix}")


@dataclass(frozen=True)
class VideoFacts:
    container: str  # "mp4", "mov", "webm", "mkv", or FFmpeg's name for another
    codec: str  # of the first video stream, FFmpeg's name ("h264")
    seconds: float
    width: int
    height: int
    frame_rate: float | None
    size: int  # bytes

    @property
    def mime_type(self) -> str:
        return {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}.get(self.container, "video/mp4")


def _container(path: Path, format_name: str) -> str:
    names = set(format_name.split(","))
    if "mp4" in names or "mov" in names:
        with path.open("rb") as handle:
            head = handle.read(12)
        return "mov" if head[4:8] == b"ftyp" and head[8:12] == b"qt  " else "mp4"
    if "webm" in names:
        return "webm" if path.suffix.lower() == ".webm" else "mkv"
    return format_name


def probe_video(path: Path) -> VideoFacts:
    """What the file is, read from its headers. Raises VideoProblem when it is missing or not a video."""
    import av  # FFmpeg's libraries take a tenth of a second to load: only when a video is checked
    import av.error

    try:
        size = path.stat().st_size
        container = av.open(str(path), metadata_errors="ignore")
    except FileNotFoundError:
        raise VideoProblem("video-missing", f"{path.name}: the file does not exist.", "Check the file name.") from None
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoProblem(
            "video-unsupported", f"{path.name}: cannot be read as a video ({error.__class__.__name__}).", _FIX_EXPORT
        ) from None
    with container:
        if not container.streams.video:
            raise VideoProblem("video-unsupported", f"{path.name}: has no video in it.", _FIX_EXPORT)
        stream = container.streams.video[0]
        seconds = 0.0
        if container.duration is not None:
            seconds = container.duration / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        rate = stream.average_rate or stream.base_rate
        return VideoFacts(
            container=_container(path, container.format.name),
            codec=stream.codec_context.name,
            seconds=seconds,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frame_rate=float(Fraction(rate)) if rate else None,
            size=size,
        )


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:,.1f} MB"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def video_problems(facts: VideoFacts, limits: VideoLimits, platform: str, source: str = "") -> list[VideoProblem]:
    """What `platform` (its name as people read it) would refuse in this video, each with a fix. `source`: where
    its size, pixel and frame rate limits came from (Mastodon's instance, or its defaults), said after them."""
    problems: list[VideoProblem] = []
    said = f" ({source})" if source else ""
    if facts.container not in limits.containers:
        kinds = ", ".join(name.upper() for name in limits.containers)
        problems.append(
            VideoProblem(
                "video-wrong-format",
                f"is a {facts.container.upper()} file; {platform} takes {kinds} only.",
                _FIX_EXPORT,
            )
        )
    if limits.codecs is not None and facts.codec not in limits.codecs:
        wanted = " or ".join(_CODEC_NAMES.get(codec, codec) for codec in limits.codecs)
        problems.append(
            VideoProblem(
                "video-wrong-format",
                f"its video is {_CODEC_NAMES.get(facts.codec, facts.codec)}; {platform} needs {wanted}.",
                _FIX_EXPORT,
            )
        )
    if facts.size > limits.max_bytes:
        problems.append(
            VideoProblem(
                "video-too-large",
                f"is {_megabytes(facts.size)}; {platform} takes at most {_megabytes(limits.max_bytes)}{said}.",
                "Export it at a lower quality or resolution (e.g. 720p), or shorten it.",
            )
        )
    if limits.max_seconds is not None and facts.seconds > limits.max_seconds:
        problems.append(
            VideoProblem(
                "video-too-long",
                f"lasts {_duration(facts.seconds)}; {platform} takes at most {_duration(limits.max_seconds)}.",
                f"Cut it to {_duration(limits.max_seconds)} or less (or post a shorter clip and link to the rest).",
            )
        )
    if limits.max_pixels is not None and facts.width * facts.height > limits.max_pixels:
        problems.append(
            VideoProblem(
                "video-too-many-pixels",
                f"is {facts.width}x{facts.height} pixels; {platform} takes at most {limits.max_pixels:,} "
                f"pixels a frame{said}.",
                "Export it at 1080p (1920x1080) or smaller.",
            )
        )
    if limits.max_frame_rate is not None and facts.frame_rate and facts.frame_rate > limits.max_frame_rate:
        problems.append(
            VideoProblem(
                "video-frame-rate",
                f"has {facts.frame_rate:.0f} frames a second; {platform} takes at most "
                f"{limits.max_frame_rate:.0f}{said}.",
                "Export it at 30 or 60 frames a second.",
            )
        )
    return problems


def check_captions(path: Path, max_bytes: int | None) -> None:
    """Raises VideoProblem unless the file is a WebVTT file (UTF-8, "WEBVTT" header) within `max_bytes`."""
    if path.suffix.lower() != CAPTION_SUFFIX:
        raise VideoProblem(
            "captions-not-webvtt",
            f"{path.name}: caption files must be WebVTT (.vtt), not {path.suffix or 'a file without a suffix'}.",
            "Save the captions as WebVTT (.vtt); most subtitle editors and YouTube Studio can export it.",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VideoProblem(
            "captions-missing", f"{path.name}: the file does not exist.", "Check the file name and folder."
        ) from None
    except OSError:
        raise VideoProblem("captions-missing", f"{path.name}: the file cannot be read.", "Check the file.") from None
    text = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        text = b""
    if not (text.startswith(b"WEBVTT") and (len(text) == 6 or text[6:7] in (b" ", b"\t", b"\n", b"\r"))):
        raise VideoProblem(
            "captions-not-webvtt",
            f"{path.name}: is not a WebVTT file (it must be UTF-8 text starting with the line WEBVTT).",
            "Export the captions again as WebVTT (.vtt); an .srt file can be converted by any subtitle editor.",
        )
    if max_bytes is not None and len(data) > max_bytes:
        raise VideoProblem(
            "captions-too-large",
            f"{path.name}: is {len(data):,} bytes; Bluesky takes caption files of at most {max_bytes:,} bytes.",
            "Split the video into shorter clips, or shorten the captions' lines.",
        )
