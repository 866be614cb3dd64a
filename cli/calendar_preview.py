"""How `campaign calendar show` and `campaign review` preview a post: each platform's parts as it receives them,
then notes (what the campaign's topic protections added, where the helpline line went, how shortened links are
shown) and the post's problems."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.padding import Padding
from rich.text import Text

from cli.calendar_media import media_lines
from content_calendar.model import PLATFORM_NAMES, Post, Problem, RenderedPart
from scheduler.display import preview_notes


def _console(*, soft_wrap: bool = False) -> Console:
    # No automatic highlighting: calendar text is shown exactly as written.
    return Console(highlight=False, soft_wrap=soft_wrap)


def _indent(renderable: Text, spaces: int) -> Padding:
    return Padding(renderable, (0, 0, 0, spaces), expand=False)


def _part_lines(part: RenderedPart, platform: str, number_of_parts: int) -> list[Padding]:
    """One part as lines indented under their heading (wrapped lines keep the indent)."""
    lines: list[Padding] = []
    head = Text()
    over = part.length > part.limit
    label = "post" if part.part == 0 else f"reply {part.part}/{number_of_parts - 1}"
    head.append(f"{label}  ", style="bold")
    head.append(f"{part.length}/{part.limit}", style="bold red" if over else "green")
    head.append(" characters (as Bluesky counts them)" if platform == "bluesky" else " characters")
    if over:
        head.append(f"  ({part.length - part.limit} too many)", style="bold red")
    if part.spoiler_text:
        head.append("  CW: ", style="bold magenta")
        head.append(part.spoiler_text, style="magenta")
    lines.append(_indent(head, 0))
    lines.append(_indent(Text(part.text, style="") if part.text else Text("(no text)", style="italic red"), 2))
    encoded = part.text.encode("utf-8")
    for facet in part.facets:  # a link shown shortened (as Bluesky's own app posts it) still opens the full URI
        shown = encoded[facet.byte_start : facet.byte_end].decode("utf-8", "replace")
        if facet.kind == "link" and shown != facet.value:
            link = Text("link: ", style="bold")
            link.append(shown)
            link.append(" -> ", style="dim")
            link.append(facet.value, style="blue")
            lines.append(_indent(link, 2))
    lines.extend(_indent(line, 2) for line in media_lines(part))  # images or the video, with their alt text
    if part.link_card is not None:
        card = Text("link card: ", style="bold")
        card.append(part.link_card.title or "(no title)")
        card.append(f"  {part.link_card.url}", style="blue")
        lines.append(_indent(card, 2))
        if part.link_card.description:
            lines.append(_indent(Text(part.link_card.description, style="dim"), 4))
        if part.link_card.thumbnail is not None:
            thumbnail = part.link_card.thumbnail
            lines.append(_indent(Text(f"thumbnail: {Path(thumbnail.path).name}", style="dim"), 4))
    settings: list[str] = []
    if platform == "bluesky":
        if part.labels:
            settings.append(f"labels: {', '.join(part.labels)}")
        if part.part == 0 and part.reply_rules is not None:
            settings.append(f"replies: {', '.join(part.reply_rules) or 'nobody'}")
        if not part.allow_quotes:
            settings.append("quotes off")
    elif part.visibility != "public":
        settings.append(f"visibility: {part.visibility}")
    if settings:
        lines.append(_indent(Text("; ".join(settings), style="dim"), 2))
    return lines


def _post_block(
    post: Post,
    rendered: dict[str, list[RenderedPart]],
    problems: list[Problem],
    platform: str | None,
    label: Text | None = None,
    helpline: str = "",
) -> Group:
    """One post as each platform receives it. `label`: where it stands, instead of the file's status."""
    header = Text()
    header.append(f"{post.at:%H:%M %Z}", style="bold")
    header.append(f"  {post.id}", style="bold cyan")
    header.append("  ")
    if label is not None:
        header.append(label)
    elif post.status == "draft":
        header.append(" DRAFT: will not be posted ", style="bold black on yellow")
    else:
        header.append("approved", style="green")
    targets = post.targets()
    header.append(f"  {', '.join(PLATFORM_NAMES.get(p, p) for p in targets) or 'no platform'}")
    skipped = [p for p in post.platforms if p not in targets]
    if skipped:
        header.append(f" (skips {', '.join(PLATFORM_NAMES.get(p, p) for p in skipped)})", style="dim")
    items: list[Text | Padding] = [header]
    for name, parts in rendered.items():
        if platform is not None and name != platform:
            continue
        items.append(_indent(Text(PLATFORM_NAMES.get(name, name), style="bold underline"), 2))
        for part in parts:
            for line in _part_lines(part, name, len(parts)):
                items.append(Padding(line, (0, 0, 0, 4), expand=False))
        for said in preview_notes(post.protected, name, parts, helpline):
            items.append(_indent(Text(f"note: {said}", style="dim"), 4))
    for problem in problems:
        style = "bold red" if problem.severity == "error" else "yellow"
        note = Text(f"{problem.severity}: ", style=style)
        note.append(problem.message)
        note.append(f"  fix: {problem.fix}", style="dim")
        if problem.place is not None or problem.line is not None:
            note.append(f"  ({problem.place or f'line {problem.line}'})", style="dim")
        items.append(_indent(note, 2))
    items.append(Text(""))
    return Group(*items)
