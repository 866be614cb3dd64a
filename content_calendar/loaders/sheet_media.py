"""A row of our spreadsheet's image (`image`, `image_alt`) or video (`video`, `video_alt`, `captions`: one WebVTT
file in the campaign's language, `no_captions`: why the video needs none)."""

from __future__ import annotations

from collections.abc import Callable

from content_calendar.loaders.base import CalendarReader
from content_calendar.model import Captions, Image, Video

MEDIA_COLUMNS = ("image", "image_alt", "video", "video_alt", "captions", "no_captions")


def row_media(
    reader: CalendarReader, cell: Callable[[str], str], row: int, post_id: str | None
) -> tuple[tuple[Image, ...], Video | None]:
    images: tuple[Image, ...] = ()
    if cell("image"):
        images = (reader.image(cell("image"), cell("image_alt"), None),)
    elif cell("image_alt"):
        reader.error(
            "missing-image",
            "The row has alt text but no image.",
            "Fill in the image column (e.g. media/photo.jpg) or clear image_alt.",
            row,
            post_id,
        )
    video = None
    if cell("video"):
        captions: tuple[Captions, ...] = ()
        if cell("captions"):
            language = reader.campaign.language if reader.campaign is not None else "en"
            captions = (Captions(cell("captions"), reader.image(cell("captions"), "", None).path, language),)
        path = reader.image(cell("video"), "", None).path
        video = Video(cell("video"), path, cell("video_alt"), captions, cell("no_captions"))
    elif cell("video_alt") or cell("captions") or cell("no_captions"):
        reader.error(
            "video-missing",
            "The row has a video's alt text or captions but no video.",
            "Fill in the video column (e.g. media/film.mp4) or clear video_alt, captions and no_captions.",
            row,
            post_id,
        )
    return images, video
