"""JSON entities shaped like Mastodon 4.7's REST serializers (key order included), as recorded by
Mastodon.py's test suite against a real server."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from .state import (
    Account,
    Instance,
    Media,
    ScheduledStatus,
    Status,
    TagRecord,
    Viewer,
    iso_ms,
)

_SUPPORTED_MIME_TYPES = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
]
_THUMBNAIL_DESCRIPTION = (
    "Two smiling cartoon mastodons (who look like elephants) toss a paper plane between them. They're "
    "surrounded by a bright blue sky and floating planets with trees and more mastodons on them."
)


def _vapid_key(domain: str) -> str:
    # The shape of a P-256 public key (0x04 + 64 bytes, URL-safe base64); push is not modelled.
    point = b"\x04" + hashlib.sha512(domain.encode()).digest()
    return base64.urlsafe_b64encode(point).decode()


def account_json(inst: Instance, account: Account, *, credentials: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "group": False,
        "created_at": iso_ms(account.created_at),
        "note": account.note,
        "url": account.url,
        "uri": account.uri,
        "avatar": account.avatar,
        "avatar_static": account.avatar,
        "avatar_description": "",
        "header": account.header,
        "header_static": account.header,
        "header_description": "",
        "followers_count": account.remote_counts.get("followers_count", 0),
        "following_count": account.remote_counts.get("following_count", 0),
        "statuses_count": inst.statuses_count(account),
        "last_status_at": inst.last_status_at(account),
        "hide_collections": None,
        "show_media": True,
        "show_media_replies": True,
        "show_featured": True,
        "noindex": False,
        "feature_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"},
    }
    if credentials:
        data["feature_approval"] = {"automatic": [], "manual": [], "current_user": "denied"}
        data["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": account.language_setting,
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
            "hide_collections": None,
            "discoverable": account.discoverable,
            "indexable": account.indexable,
            "attribution_domains": [],
            "quote_policy": account.quote_policy,
        }
    data["emojis"] = []
    data["roles"] = []
    data["fields"] = []
    if credentials:
        data["role"] = {
            "id": "-99",
            "name": "",
            "permissions": "65536",
            "color": "",
            "highlighted": False,
            "collection_limit": 10,
        }
    return data


def _id_partition(media_id: int) -> str:
    digits = f"{media_id:09d}"
    return "/".join(digits[i : i + 3] for i in range(0, len(digits), 3))


def media_file_url(inst: Instance, media: Media, style: str = "original") -> str:
    return (
        f"{inst.base_url}/system/media_attachments/files/{_id_partition(media.id)}/{style}/"
        f"{media.file_key}.{media.facts.extension}"
    )


def media_json(inst: Instance, media: Media) -> dict[str, Any]:
    from .media import meta_for

    visual = media.facts.kind == "image"
    if visual:
        preview = media_file_url(inst, media, "small")
    else:
        preview = (
            f"{inst.base_url}/system/media_attachments/thumbnails/{_id_partition(media.id)}/original/"
            f"{media.file_key}.jpg"
        )
    return {
        "id": str(media.id),
        "type": media.facts.kind,
        "url": media_file_url(inst, media) if media.processed else None,
        "preview_url": preview,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta_for(
            media.facts, media.focus, len(media.data), processed=media.processed, processed_later=media.processed_later
        ),
        "description": media.description,
        "blurhash": media.facts.blurhash,
    }


def _quote_approval(inst: Instance, status: Status, viewer: Viewer) -> dict[str, Any]:
    automatic = (
        [] if status.quote_policy == "nobody" or status.visibility in ("private", "direct") else [status.quote_policy]
    )
    if viewer.account_id is None:
        current = "unknown"
    elif viewer.account_id == status.account_id or "public" in automatic:
        current = "automatic"
    else:
        current = "denied"
    return {"automatic": automatic, "manual": [], "current_user": current}


def status_json(
    inst: Instance, status: Status, viewer: Viewer, *, source_requested: bool = False, depth: int = 0
) -> dict[str, Any]:
    """REST::StatusSerializer. Viewer-only attributes (favourited, ..., filtered) appear only for an
    authenticated viewer; `pinned` only for the author; `text` replaces `content` on deletion."""
    account = inst.accounts[status.account_id]
    authenticated = viewer.account_id is not None
    data: dict[str, Any] = {
        "id": str(status.id),
        "created_at": iso_ms(status.created_at),
        "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id else None,
        "in_reply_to_account_id": str(status.in_reply_to_account_id) if status.in_reply_to_account_id else None,
        "sensitive": status.sensitive,
        "spoiler_text": status.spoiler_text,
        "visibility": status.visibility,
        "language": status.language,
        "uri": status.uri,
        "url": status.url,
    }
    data.update(inst.counts(status))
    data["edited_at"] = iso_ms(status.edited_at) if status.edited_at else None
    if authenticated:
        data["favourited"] = viewer.account_id in status.favourited_by
        data["reblogged"] = viewer.account_id in status.reblogged_by
        data["muted"] = False
        data["bookmarked"] = False
        if viewer.account_id == status.account_id and status.visibility != "direct":
            data["pinned"] = False
    if source_requested:
        data["text"] = status.text
    else:
        data["content"] = status.content
    if authenticated:
        data["filtered"] = []
    data["reblog"] = None
    if status.local:
        data["application"] = {"name": status.application, "website": None} if status.application else None
    data["account"] = account_json(inst, account)
    if status.local:
        data["media_attachments"] = [media_json(inst, inst.media[m]) for m in status.media_ids if m in inst.media]
    else:
        data["media_attachments"] = [dict(item) for item in status.remote_media]
    data["mentions"] = [
        {
            "id": str(mentioned.id),
            "username": mentioned.username,
            "url": mentioned.url,
            "acct": mentioned.acct,
        }
        for mentioned in (inst.accounts[m] for m in status.mention_ids if m in inst.accounts)
    ]
    data["tags"] = [{"name": name, "url": f"{inst.base_url}/tags/{quote(name, safe='')}"} for name in status.tag_names]
    data["emojis"] = []
    data["tagged_collections"] = []
    quoted = inst.statuses.get(status.quoted_status_id) if status.quoted_status_id else None
    if quoted is None:
        data["quote"] = None
    elif depth > 0:
        data["quote"] = {"state": "accepted", "quoted_status_id": str(quoted.id)}  # ShallowQuote
    elif quoted.deleted:
        data["quote"] = {"state": "deleted", "quoted_status": None}
    else:
        data["quote"] = {
            "state": "accepted",
            "quoted_status": status_json(inst, quoted, viewer, source_requested=source_requested, depth=depth + 1),
        }
    data["card"] = None
    data["poll"] = None
    data["quote_approval"] = _quote_approval(inst, status, viewer)
    return data


def scheduled_json(inst: Instance, scheduled: ScheduledStatus, *, fresh: bool = False) -> dict[str, Any]:
    """REST::ScheduledStatusSerializer. `params` mirrors what Mastodon stores: unset options are null,
    `sensitive` is the raw form value (e.g. "0"). The answer to the POST lists the params in the order they
    were built; read back from PostgreSQL's jsonb they come shortest key first (`fresh=False`)."""
    p = scheduled.params
    media_ids = [str(m) for m in scheduled.media_ids] or None
    in_reply_to = p.get("in_reply_to_id")
    params = {
        "text": p.get("status") or "",
        "quote_approval_policy": p.get("quote_approval_policy") or inst.accounts[scheduled.account_id].quote_policy,
        "media_ids": media_ids,
        "sensitive": p.get("sensitive"),
        "spoiler_text": p.get("spoiler_text"),
        "visibility": p.get("visibility"),
        "language": p.get("language"),
        "scheduled_at": None,
        "poll": None,
        "allowed_mentions": None,
        "idempotency": scheduled.idempotency_key,
        "with_rate_limit": False,
        "in_reply_to_id": int(in_reply_to) if in_reply_to not in (None, "") else None,
        "application_id": 1,
        "quoted_status_id": p.get("quoted_status_id"),
    }
    if not fresh:
        params = dict(sorted(params.items(), key=lambda item: (len(item[0]), item[0])))
    return {
        "id": str(scheduled.id),
        "scheduled_at": iso_ms(scheduled.scheduled_at),
        "params": params,
        "media_attachments": [media_json(inst, inst.media[m]) for m in scheduled.media_ids if m in inst.media],
    }


def tag_json(inst: Instance, record: TagRecord, viewer: Viewer) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(record.id),
        "name": record.name,
        "url": f"{inst.base_url}/tags/{quote(record.name, safe='')}",
        "history": inst.tag_history(record),
    }
    if viewer.account_id is not None:
        data["following"] = False
        data["featuring"] = False
    return data


def instance_v2_json(inst: Instance) -> dict[str, Any]:
    c = inst.config
    base = inst.base_url
    users = sum(1 for a in inst.accounts.values() if a.local)
    return {
        "domain": inst.domain,
        "title": c.title,
        "version": c.version,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "",
        "usage": {"users": {"active_month": users}},
        "thumbnail": {"url": f"{base}/packs/images/preview.png", "description": _THUMBNAIL_DESCRIPTION},
        "icon": [
            {"src": f"{base}/packs/icons/android-chrome-{size}x{size}.png", "size": f"{size}x{size}"}
            for size in (36, 48, 72, 96, 144, 192, 256, 384, 512)
        ],
        "languages": ["en"],
        "configuration": {
            "urls": {
                "streaming": base.replace("http", "ws", 1),
                "status": None,
                "about": f"{base}/about",
                "privacy_policy": f"{base}/privacy-policy",
                "terms_of_service": None,
            },
            "vapid": {"public_key": _vapid_key(inst.domain)},
            "accounts": {
                "max_display_name_length": 40,
                "max_note_length": 500,
                "max_avatar_description_length": 150,
                "max_header_description_length": 150,
                "max_featured_tags": 10,
                "max_pinned_statuses": 5,
                "max_profile_fields": 4,
                "profile_field_name_limit": 255,
                "profile_field_value_limit": 255,
            },
            "statuses": {
                "max_characters": c.max_characters,
                "max_media_attachments": c.max_media_attachments,
                "characters_reserved_per_url": c.characters_reserved_per_url,
            },
            "media_attachments": {
                "description_limit": c.description_limit,
                "image_matrix_limit": c.image_matrix_limit,
                "image_size_limit": c.image_size_limit,
                "supported_mime_types": list(_SUPPORTED_MIME_TYPES),
                "video_frame_rate_limit": c.video_frame_rate_limit,
                "video_matrix_limit": c.video_matrix_limit,
                "video_size_limit": c.video_size_limit,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
            "translation": {"enabled": False},
            "timelines_access": {
                "live_feeds": {"local": "public", "remote": "public"},
                "hashtag_feeds": {"local": "public", "remote": "public"},
                "trending_link_feeds": {"local": "public", "remote": "public"},
            },
            "limited_federation": False,
        },
        "registrations": {
            "enabled": False,
            "approval_required": False,
            "reason_required": False,
            "message": None,
            "min_age": None,
            "url": None,
        },
        "api_versions": {"mastodon": c.api_version},
        "wrapstodon": None,
        "contact": {"email": "", "account": None},
        "rules": [],
    }


def instance_v1_json(inst: Instance) -> dict[str, Any]:
    c = inst.config
    base = inst.base_url
    return {
        "uri": inst.domain,
        "title": c.title,
        "short_description": "",
        "description": "",
        "email": "",
        "version": c.version,
        "urls": {"streaming_api": base.replace("http", "ws", 1)},
        "stats": {
            "user_count": sum(1 for a in inst.accounts.values() if a.local),
            "status_count": sum(1 for s in inst.statuses.values() if s.local and not s.deleted),
            "domain_count": len({a.domain for a in inst.accounts.values() if a.domain}),
        },
        "thumbnail": f"{base}/packs/images/preview.png",
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 10},
            "statuses": {
                "max_characters": c.max_characters,
                "max_media_attachments": c.max_media_attachments,
                "characters_reserved_per_url": c.characters_reserved_per_url,
            },
            "media_attachments": {
                "supported_mime_types": list(_SUPPORTED_MIME_TYPES),
                "image_size_limit": c.image_size_limit,
                "image_matrix_limit": c.image_matrix_limit,
                "video_size_limit": c.video_size_limit,
                "video_frame_rate_limit": c.video_frame_rate_limit,
                "video_matrix_limit": c.video_matrix_limit,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        },
        "contact_account": None,
        "rules": [],
    }


def federation_payload(inst: Instance, status: Status, kind: str) -> dict[str, Any]:
    parent = inst.statuses.get(status.in_reply_to_id) if status.in_reply_to_id else None
    return {
        "type": kind,
        "origin": inst.base_url,
        "status": status_json(inst, status, Viewer()),
        "in_reply_to_uri": parent.uri if parent else None,
    }
