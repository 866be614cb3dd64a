"""prepare_image / image_dimensions on real files made with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageDraw

from content_calendar.images import SUPPORTED_IMAGE_SUFFIXES, ImageProblem, image_dimensions, prepare_image
from tests.render.conftest import write_noise, write_photo

BLUESKY_BLOB = 2_000_000
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def large_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_noise(tmp_path_factory.mktemp("photos") / "large.jpg", (4000, 3000))


def test_large_photo_is_reencoded_under_the_blob_limit(large_photo: Path) -> None:
    assert large_photo.stat().st_size > 5_000_000
    prepared = prepare_image(large_photo, BLUESKY_BLOB)
    assert len(prepared.data) <= BLUESKY_BLOB
    assert prepared.mime_type == "image/jpeg"
    assert (prepared.width, prepared.height) == (2000, 1500)  # aspect ratio kept, long side at max_side
    assert prepared.resized is True
    image = opened(prepared.data)
    assert image.format == "JPEG"
    assert image.size == (2000, 1500)


def test_a_tighter_limit_shrinks_further(large_photo: Path) -> None:
    prepared = prepare_image(large_photo, 400_000)
    assert len(prepared.data) <= 400_000
    assert prepared.width < 2000
    assert abs(prepared.width / prepared.height - 4 / 3) < 0.01
    assert opened(prepared.data).size == (prepared.width, prepared.height)


def test_max_side_is_honoured(tmp_path: Path) -> None:
    path = write_photo(tmp_path / "wide.jpg", (1200, 300))
    prepared = prepare_image(path, BLUESKY_BLOB, max_side=600)
    assert (prepared.width, prepared.height) == (600, 150)
    assert prepared.resized is True


def test_small_image_is_never_upscaled(tmp_path: Path) -> None:
    path = write_photo(tmp_path / "small.jpg", (320, 200))
    prepared = prepare_image(path, BLUESKY_BLOB)
    assert (prepared.width, prepared.height) == (320, 200)
    assert prepared.resized is False
    assert opened(prepared.data).size == (320, 200)


def _photo_with_metadata(path: Path, orientation: int = 1) -> Path:
    image = Image.new("RGB", (60, 40), (255, 0, 0))
    ImageDraw.Draw(image).rectangle((30, 0, 59, 39), fill=(0, 0, 255))  # left red, right blue
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    image.save(path, "JPEG", quality=95, exif=exif, comment=b"taken at the survivor's home")
    check = Image.open(path)
    assert check.getexif().get_ifd(GPS_IFD), "the test image must really carry GPS data"
    return path


def test_exif_and_gps_and_comments_are_gone(tmp_path: Path) -> None:
    path = _photo_with_metadata(tmp_path / "gps.jpg")
    assert b"SecretCam" in path.read_bytes()
    prepared = prepare_image(path, BLUESKY_BLOB)
    image = opened(prepared.data)
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(GPS_IFD) == {}
    assert "exif" not in image.info and "comment" not in image.info and "icc_profile" not in image.info
    for secret in (b"Exif", b"SecretCam", b"Model X", b"survivor"):
        assert secret not in prepared.data


def test_exif_orientation_is_applied_before_stripping(tmp_path: Path) -> None:
    path = _photo_with_metadata(tmp_path / "rotated.jpg", orientation=6)  # display: turn 90° clockwise
    assert image_dimensions(path) == (40, 60)
    prepared = prepare_image(path, BLUESKY_BLOB)
    assert (prepared.width, prepared.height) == (40, 60)
    assert prepared.resized is False  # turned as displayed, not resized
    image = opened(prepared.data).convert("RGB")
    red, green, blue = image.getpixel((20, 10))  # the left (red) half is now on top
    assert red > 200 and blue < 60 and green < 60
    red, green, blue = image.getpixel((20, 50))
    assert blue > 200 and red < 60 and green < 60


def test_png_with_alpha_stays_png_when_it_fits(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    logo = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((50, 50, 250, 150), fill=(200, 0, 120, 255))
    logo.save(path, "PNG")
    prepared = prepare_image(path, BLUESKY_BLOB)
    assert prepared.mime_type == "image/png"
    image = opened(prepared.data)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0  # still transparent
    assert image.getpixel((150, 100)) == (200, 0, 120, 255)
    assert prepared.resized is False


def test_png_with_alpha_too_big_for_png_becomes_jpeg_on_white(tmp_path: Path) -> None:
    path = tmp_path / "noisy.png"
    noise = Image.effect_noise((800, 800), 120).convert("RGB")
    rgba = noise.copy()
    rgba.putalpha(Image.new("L", (800, 800), 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.save(path, "PNG")
    png_size = len(prepare_image(path, 10_000_000).data)
    prepared = prepare_image(path, png_size // 3)
    assert prepared.mime_type == "image/jpeg"
    assert len(prepared.data) <= png_size // 3
    assert opened(prepared.data).getpixel((0, 0)) == pytest.approx((255, 255, 255), abs=40)


def test_animated_gif_gives_its_first_frame_as_a_still(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (50, 30), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    prepared = prepare_image(path, BLUESKY_BLOB)
    image = opened(prepared.data).convert("RGB")
    assert getattr(image, "n_frames", 1) == 1
    assert image.getpixel((10, 10)) == (255, 0, 0)
    assert (prepared.width, prepared.height) == (50, 30)


def test_webp_is_supported(tmp_path: Path) -> None:
    path = tmp_path / "photo.webp"
    Image.new("RGB", (100, 80), (10, 120, 10)).save(path, "WEBP")
    prepared = prepare_image(path, BLUESKY_BLOB)
    assert (prepared.width, prepared.height) == (100, 80)
    assert prepared.mime_type in ("image/jpeg", "image/png")


def test_colour_profile_is_applied_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "profiled.jpg"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (40, 40), (120, 60, 30)).save(path, "JPEG", icc_profile=profile, quality=95)
    assert Image.open(path).info.get("icc_profile")
    image = opened(prepare_image(path, BLUESKY_BLOB).data)
    assert "icc_profile" not in image.info
    assert image.getpixel((20, 20)) == pytest.approx((120, 60, 30), abs=6)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(path, "JPEG")
    image = opened(prepare_image(path, BLUESKY_BLOB).data)
    assert image.mode == "RGB"


@pytest.mark.parametrize("name", ["notes.txt", "scan.bmp", "vector.svg", "noext"])
def test_unsupported_types_are_refused_with_a_fix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"not an image")
    with pytest.raises(ImageProblem) as caught:
        prepare_image(path, BLUESKY_BLOB)
    assert "not a supported image type" in caught.value.message
    assert "JPEG" in caught.value.fix
    assert caught.value.code == "image-unsupported"


def test_a_text_file_named_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_text("hello")
    with pytest.raises(ImageProblem) as caught:
        prepare_image(path, BLUESKY_BLOB)
    assert "cannot be read as an image" in caught.value.message
    assert caught.value.fix


def test_a_bmp_named_png_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "really-bmp.png"
    Image.new("RGB", (10, 10)).save(path, "BMP")
    with pytest.raises(ImageProblem, match="BMP"):
        prepare_image(path, BLUESKY_BLOB)


def test_a_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    source = write_noise(tmp_path / "whole.jpg", (400, 300))
    path = tmp_path / "cut.jpg"
    path.write_bytes(source.read_bytes()[:2000])
    with pytest.raises(ImageProblem, match="damaged"):
        prepare_image(path, BLUESKY_BLOB)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageProblem, match="does not exist") as caught:
        prepare_image(tmp_path / "nope.jpg", BLUESKY_BLOB)
    assert caught.value.code == "image-missing"


def test_impossible_fit_is_an_image_problem(large_photo: Path) -> None:
    with pytest.raises(ImageProblem) as caught:
        prepare_image(large_photo, 5_000)
    assert "5,000 bytes" in caught.value.message
    assert "Export the image smaller" in caught.value.fix
    assert caught.value.code == "image-too-large"


def test_image_dimensions_reads_headers_only(large_photo: Path, tmp_path: Path) -> None:
    assert image_dimensions(large_photo) == (4000, 3000)
    truncated = tmp_path / "header-only.jpg"
    truncated.write_bytes(large_photo.read_bytes()[:5000])  # no pixel data to decode: still answers
    assert image_dimensions(truncated) == (4000, 3000)


def test_supported_suffixes() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif"} == SUPPORTED_IMAGE_SUFFIXES
