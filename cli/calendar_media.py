"""`calendar show`'s lines for a part's images (file, alt text, focus) and video (file, alt text, captions)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from content_calendar.model import RenderedPart


def media_lines(part: RenderedPart) -> list[Text]:
    lines = []
    for image in part.images:
        image_line = Text("image: ", style="bold")
        image_line.append(Path(image.path).name)
        image_line.append("  alt: ", style="dim")
        image_line.append(image.alt or "(missing)", style="" if image.alt else "bold red")
        if image.focus:
            image_line.append(f"  focus {image.focus[0]:+.2f},{image.focus[1]:+.2f}", style="dim")
        lines.append(image_line)
    video = part.video
    if video is not None:
        video_line = Text("video: ", style="bold")
        video_line.append(Path(video.path).name)
        video_line.append("  alt: ", style="dim")
        video_line.append(video.alt or "(missing)", style="" if video.alt else "bold red")
        if video.captions:
            names = ", ".join(f"{Path(c.path).name} ({c.lang})" for c in video.captions)
            video_line.append(f"  captions: {names}", style="dim")
        elif part.platform == "mastodon":
            video_line.append("  captions: none (Mastodon takes no caption file)", style="dim")
        else:
            video_line.append("  captions: none", style="dim")
        lines.append(video_line)
    return lines
