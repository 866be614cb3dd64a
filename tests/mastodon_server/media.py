"""Uploaded media: what kind of file it is, its dimensions, and the metadata Mastodon reports for it."""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image, UnidentifiedImageError


class UnverifiableMedia(Exception):
    """Mastodon: 422 {"error": "File type of uploaded media could not be verified"}."""


class UnsupportedMedia(Exception):
    """Mastodon: 422 "Validation failed: File content type is invalid"."""


@dataclass
class MediaFacts:
    kind: str  # "image" | "gifv" | "video" | "audio"
    mime: str
    extension: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frame_rate: str | None = None
    blurhash: str | None = None


_IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


def sniff(data: bytes) -> tuple[str, str, str]:
    """(kind, mime, extension) from the file's magic bytes, as Paperclip/Marcel would."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg", "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png", "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gifv", "image/gif", "mp4"  # Mastodon converts GIFs to silent looping MP4 ("gifv")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav", "mp3"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image", "image/heic", "jpg"
        if brand in (b"avif", b"avis"):
            return "image", "image/avif", "jpg"
        if brand == b"M4A ":
            return "audio", "audio/mp4", "mp3"
        if brand == b"qt  ":
            return "video", "video/quicktime", "mp4"
        return "video", "video/mp4", "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "video/webm", "mp4"
    if head.startswith(b"OggS"):
        return "audio", "audio/ogg", "mp3"
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac", "mp3"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio", "audio/mpeg", "mp3"
    raise UnsupportedMedia("File content type is invalid")


def inspect_media(data: bytes) -> MediaFacts:
    kind, mime, extension = sniff(data)
    facts = MediaFacts(kind=kind, mime=mime, extension=extension)
    if kind in ("image", "gifv") and mime not in ("image/heic", "image/avif"):
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                facts.width, facts.height = image.size
                facts.blurhash = blurhash_of(image)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise UnverifiableMedia("File type of uploaded media could not be verified") from error
    elif kind == "video" and mime in ("video/mp4", "video/quicktime"):
        _read_mp4(data, facts)
    return facts


def scaled_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Mastodon's 'small' style: shrink to at most `max_pixels` pixels keeping the aspect; never enlarge."""
    if width * height <= max_pixels:
        return width, height
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _size_entry(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}


def meta_for(
    facts: MediaFacts,
    focus: tuple[float, float] | None,
    size_bytes: int,
    *,
    processed: bool = True,
    processed_later: bool = False,
) -> dict[str, Any]:
    # Key order as recorded: focus comes last for an upload processed at once (an image, test_media_post_multiple)
    # and while processing; first once a later processing rebuilt the meta (a video, test_media_update).
    meta: dict[str, Any] = {}
    rebuilt = processed and processed_later
    if focus is not None and rebuilt:
        meta["focus"] = {"x": focus[0], "y": focus[1]}
    if facts.width and facts.height:
        if facts.kind == "image":
            meta["original"] = _size_entry(facts.width, facts.height)
            meta["small"] = _size_entry(*scaled_within(facts.width, facts.height, 480 * 480))
        else:
            original: dict[str, Any] = {"width": facts.width, "height": facts.height}
            if facts.frame_rate:
                original["frame_rate"] = facts.frame_rate
            if facts.duration:
                original["duration"] = round(facts.duration, 2)
                original["bitrate"] = int(size_bytes * 8 / facts.duration)
            meta["original"] = original
            meta["small"] = _size_entry(*scaled_within(facts.width, facts.height, 400 * 400))
    if focus is not None and not rebuilt:
        meta["focus"] = {"x": focus[0], "y": focus[1]}
    return meta


# --- MP4: enough of the ISO BMFF box tree to read the size, duration and frame rate of the video track.


def _boxes(data: bytes, start: int, end: int):
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header:
            return
        yield kind, offset + header, offset + size
        offset += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body_start, body_end in _boxes(data, start, end):
        if found == kind:
            return body_start, body_end
    return None


def _read_mp4(data: bytes, facts: MediaFacts) -> None:
    moov = _child(data, 0, len(data), b"moov")
    if moov is None:
        return
    mvhd = _child(data, *moov, b"mvhd")
    if mvhd is not None:
        body = data[mvhd[0] : mvhd[1]]
        if body[0] == 1:
            timescale, duration = struct.unpack(">IQ", body[20:32])
        else:
            timescale, duration = struct.unpack(">II", body[12:20])
        if timescale:
            facts.duration = duration / timescale
    for kind, start, end in _boxes(data, *moov):
        if kind != b"trak":
            continue
        tkhd = _child(data, start, end, b"tkhd")
        if tkhd is None:
            continue
        width_fixed, height_fixed = struct.unpack(">II", data[tkhd[1] - 8 : tkhd[1]])
        width, height = width_fixed >> 16, height_fixed >> 16
        if not width or not height:
            continue
        facts.width, facts.height = width, height
        mdia = _child(data, start, end, b"mdia")
        if mdia is None:
            break
        mdhd = _child(data, *mdia, b"mdhd")
        minf = _child(data, *mdia, b"minf")
        stbl = _child(data, *minf, b"stbl") if minf else None
        stts = _child(data, *stbl, b"stts") if stbl else None
        if mdhd is None or stts is None:
            break
        body = data[mdhd[0] : mdhd[1]]
        if body[0] == 1:
            timescale, track_duration = struct.unpack(">IQ", body[20:32])
        else:
            timescale, track_duration = struct.unpack(">II", body[12:20])
        entries = struct.unpack(">I", data[stts[0] + 4 : stts[0] + 8])[0]
        frames = sum(struct.unpack(">I", data[stts[0] + 8 + 8 * i : stts[0] + 12 + 8 * i])[0] for i in range(entries))
        if track_duration and frames:
            rate = Fraction(frames * timescale, track_duration).limit_denominator(1001)
            facts.frame_rate = f"{rate.numerator}/{rate.denominator}"
        break


# --- BlurHash (https://blurha.sh), 4x4 components like Mastodon's BLURHASH_OPTIONS.

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // (83 ** (length - i - 1))) % 83] for i in range(length))


def _to_linear(channel: int) -> float:
    v = channel / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    return int(v * 12.92 * 255 + 0.5) if v <= 0.0031308 else int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def blurhash_of(image: Image.Image, x_components: int = 4, y_components: int = 4) -> str:
    small = image.convert("RGB").resize((32, 32))
    width, height = small.size
    pixels = [[_to_linear(c) for c in small.getpixel((x, y))] for y in range(height) for x in range(width)]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        for i in range(x_components):
            normalisation = 1 if i == 0 and j == 0 else 2
            r = g = b = 0.0
            for y in range(height):
                for x in range(width):
                    basis = math.cos(math.pi * i * x / width) * math.cos(math.pi * j * y / height)
                    pr, pg, pb = pixels[y * width + x]
                    r += basis * pr
                    g += basis * pg
                    b += basis * pb
            scale = normalisation / (width * height)
            factors.append((r * scale, g * scale, b * scale))
    dc, ac = factors[0], factors[1:]
    result = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for factor in ac for v in factor)
        quantised_max = max(0, min(82, int(actual_max * 166 - 0.5)))
        maximum = (quantised_max + 1) / 166
        result += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        result += _base83(0, 1)
    result += _base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for factor in ac:
        quant = [max(0, min(18, math.floor(_sign_pow(v / maximum, 0.5) * 9 + 9.5))) for v in factor]
        result += _base83(quant[0] * 19 * 19 + quant[1] * 19 + quant[2], 2)
    return result
