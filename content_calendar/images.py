"""Images made ready for upload: oriented, stripped of metadata, re-encoded to fit a byte limit.

Every image is decoded and re-encoded, so nothing of the original file's metadata (EXIF with GPS, XMP,
IPTC, comments, thumbnails) can survive. Colour profiles are converted to sRGB first (then dropped), so
wide-gamut phone photos keep their colours. Images are never enlarged.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

SUPPORTED_IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})
_SUPPORTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}
_JPEG_QUALITIES = (90, 82, 75, 65)
_MIN_SIDE = 320  # below this a photo is no longer worth posting: say so instead
_FIX_SMALLER = "Export the image smaller (e.g. 2000 px on the long side, JPEG quality 80) and save it again."
# EXIF orientations 5..8 turn the image a quarter: width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageProblem(Exception):
    """An image that cannot be used as it is: `message` says what is wrong, `fix` what to do.

    `code` is a Problem code: "image-unsupported" (not an image we take, or damaged), "image-missing",
    or "image-too-large" (cannot fit the byte limit).
    """

    def __init__(self, message: str, fix: str, code: str = "image-unsupported"):
        self.message = message
        self.fix = fix
        self.code = code
        super().__init__(f"{message} Fix: {fix}")


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    mime_type: str
    width: int
    height: int
    resized: bool


def _open(path: Path) -> Image.Image:
    if path.suffix.lower() not in SUPPORTED_IMAGE_SUFFIXES:
        raise ImageProblem(
            f"{path.name}: {path.suffix or 'no suffix'} is not a supported image type.",
            "Use a JPEG, PNG, WebP or GIF file (.jpg, .jpeg, .png, .webp, .gif).",
        )
    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise ImageProblem(
            f"{path.name}: the file does not exist.", "Check the file name and folder.", "image-missing"
        ) from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as error:
        raise ImageProblem(
            f"{path.name}: cannot be read as an image ({error.__class__.__name__}).",
            "Open it in an image editor and export it again as JPEG or PNG.",
        ) from None
    if image.format not in _SUPPORTED_FORMATS:
        image.close()
        raise ImageProblem(
            f"{path.name}: is a {image.format} image, which is not supported.",
            "Export it as JPEG or PNG.",
        )
    return image


def image_dimensions(path: Path) -> tuple[int, int]:
    """Width and height as displayed (EXIF orientation applied), read from the header without decoding."""
    with _open(path) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block: the pixels are still fine
            orientation = 1
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def _has_transparency(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = image.getchannel("A")
        low, _ = cast("tuple[float, float]", alpha.getextrema())  # one band: (min, max)
        return low < 255
    if image.mode == "P" and "transparency" in image.info:
        return _has_transparency(image.convert("RGBA"))
    return image.mode in ("RGBa", "La")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded colour profile (wide-gamut phone photos, CMYK prints) so sRGB pixels look the same."""
    profile = image.info.get("icc_profile")
    output_mode = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}.get(image.mode)
    if not profile or output_mode is None:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # an unusable profile: the pixels as they are
    return converted if converted is not None else image


def _decode(image: Image.Image, max_side: int) -> Image.Image:
    """Pixels only: first frame, orientation applied, sRGB, no metadata."""
    if image.format == "GIF":
        image.seek(0)
    if image.format in ("JPEG", "MPO") and max(image.size) >= max_side * 2:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: much faster, still at least max_side.
        scale = max(image.size) / max_side
        image.draft("RGB", (math.ceil(image.size[0] / scale), math.ceil(image.size[1] / scale)))
    image.load()
    oriented = _to_srgb(ImageOps.exif_transpose(image) or image)
    if oriented.mode in ("P", "PA", "L", "LA", "I;16", "I", "F", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        has_alpha = oriented.mode in ("PA", "LA") or "transparency" in oriented.info
        oriented = oriented.convert("RGBA" if has_alpha else "RGB")
    clean = Image.frombytes(oriented.mode, oriented.size, oriented.tobytes())  # no info, no EXIF, nothing
    return clean


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def _scaled(image: Image.Image, side: int) -> Image.Image:
    width, height = image.size
    if max(width, height) <= side:
        return image
    factor = side / max(width, height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def prepare_image(path: Path, max_bytes: int, *, max_side: int = 2000) -> PreparedImage:
    """The image re-encoded to at most `max_bytes`, at most `max_side` px on its long side, never enlarged.

    PNG is kept when the source is PNG/GIF/WebP-with-transparency and the PNG fits (transparency and sharp
    graphics survive); otherwise JPEG with falling quality, then smaller sizes, until it fits.
    Raises ImageProblem when the file is missing, not a supported image, or cannot fit.
    """
    with _open(path) as source:
        source_format = source.format
        try:
            orientation = source.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:
            orientation = 1
        width, height = source.size
        original_size = (height, width) if orientation in _QUARTER_TURNS else (width, height)
        try:
            pixels = _decode(source, max_side)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise ImageProblem(
                f"{path.name}: the image data is damaged ({error.__class__.__name__}).",
                "Open it in an image editor and export it again as JPEG or PNG.",
            ) from None

    side = min(max(original_size), max_side)
    image = _scaled(pixels, side)
    transparent = _has_transparency(image)
    if not transparent and image.mode != "RGB":
        image = image.convert("RGB")

    def result(data: bytes, mime_type: str, final: Image.Image) -> PreparedImage:
        return PreparedImage(data, mime_type, final.width, final.height, final.size != original_size)

    if transparent or source_format in ("PNG", "GIF"):
        data = _encode_png(image)
        if len(data) <= max_bytes:
            return result(data, "image/png", image)

    photo = _flatten(image)
    while True:
        data = b""
        for quality in _JPEG_QUALITIES:
            data = _encode_jpeg(photo, quality)
            if len(data) <= max_bytes:
                return result(data, "image/jpeg", photo)
        # Bytes grow roughly with the pixel count: aim straight for the size that should fit.
        estimate = side * math.sqrt(max_bytes / len(data)) * 0.95
        next_side = int(min(side * 0.85, estimate))
        if next_side < _MIN_SIDE:
            raise ImageProblem(
                f"{path.name}: cannot be made smaller than {max_bytes:,} bytes without shrinking it below "
                f"{_MIN_SIDE} px (at {side} px it is still {len(data):,} bytes).",
                _FIX_SMALLER,
                "image-too-large",
            )
        side = next_side
        photo = _scaled(_flatten(pixels) if pixels.mode != "RGB" else pixels, side)
