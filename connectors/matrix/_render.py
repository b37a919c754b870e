"""Matrix event contents for a TimelinePost: the text, one message per link, one per attachment.

Each content carries a `jp.renkei.post` marker (the post's id, the part, tags and record key) so `read()`
can fold a post's several events back into one post, the way members see it.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from renkei.connectors.base import Attachment, TimelinePost
from renkei.errors import PermanentDeliveryError

MARKER = "jp.renkei.post"
HTML_FORMAT = "org.matrix.custom.html"


def _marker(post: TimelinePost, post_id: str, part: str) -> dict[str, Any]:
    return {"id": post_id, "part": part, "tags": list(post.tags), "record_key": post.record_key, "author": post.author}


def text_content(post: TimelinePost, post_id: str) -> dict[str, Any]:
    """`body` is the plain text with tags as '#tag'; `formatted_body` the same as escaped HTML."""
    body = post.text
    formatted = "<br>".join(html.escape(line) for line in post.text.split("\n"))
    if post.tags:
        body += "\n\n" + " ".join(f"#{t}" for t in post.tags)
        formatted += "<br><br>" + " ".join(f"<code>#{html.escape(t)}</code>" for t in post.tags)
    return {
        "msgtype": "m.text",
        "body": body,
        "format": HTML_FORMAT,
        "formatted_body": formatted,
        MARKER: _marker(post, post_id, "text"),
    }


def link_content(post: TimelinePost, post_id: str, index: int, link: dict[str, str]) -> dict[str, Any]:
    url = str(link.get("url", ""))
    title = str(link.get("title", "")) or url
    if urlsplit(url).scheme not in ("http", "https"):
        # javascript:, data: and friends would become clickable in members' clients.
        raise PermanentDeliveryError(f"link {index}: only http(s) URLs can be posted")
    return {
        "msgtype": "m.text",
        "body": f"{title}\n{url}",
        "format": HTML_FORMAT,
        "formatted_body": f'<a href="{html.escape(url, quote=True)}">{html.escape(title)}</a>',
        MARKER: {**_marker(post, post_id, f"link:{index}"), "link": {"title": title, "url": url}},
    }


def file_content(post: TimelinePost, post_id: str, index: int, att: Attachment, mxc: str) -> dict[str, Any]:
    msgtype = "m.image" if att.media_type.startswith("image/") else "m.file"
    return {
        "msgtype": msgtype,
        "body": att.name,
        "filename": att.name,
        "url": mxc,
        "info": {"mimetype": att.media_type, "size": len(att.data)},
        MARKER: _marker(post, post_id, f"file:{index}"),
    }


def fold_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline events (oldest first) -> posts, one per renkei post or foreign message; redacted ones dropped."""
    posts: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.get("type") != "m.room.message":
            continue
        content = ev.get("content") or {}
        if not content or "redacted_because" in (ev.get("unsigned") or {}):
            continue
        marker = content.get(MARKER) if isinstance(content.get(MARKER), dict) else None
        key = marker["id"] if marker else ev["event_id"]
        post = by_id.get(key)
        if post is None:
            post = {
                "id": ev["event_id"],
                "author": ev.get("sender", ""),
                "text": "",
                "tags": list(marker.get("tags", [])) if marker else [],
                "links": [],
                "attachments": [],
                "record_key": marker.get("record_key", "") if marker else "",
                "created_at": ev.get("origin_server_ts", 0) / 1000,
            }
            by_id[key] = post
            posts.append(post)
        part = marker.get("part", "text") if marker else "text"
        if part == "text":
            post["id"] = ev["event_id"]
            post["text"] = _strip_tags(content.get("body", ""), post["tags"]) if marker else content.get("body", "")
        elif part.startswith("link:"):
            post["links"].append(dict(marker.get("link", {})))
        elif part.startswith("file:"):
            post["attachments"].append(
                {
                    "name": content.get("body", ""),
                    "media_type": (content.get("info") or {}).get("mimetype", ""),
                    "size": (content.get("info") or {}).get("size"),
                    "url": content.get("url", ""),
                    "msgtype": content.get("msgtype", ""),
                }
            )
    return posts


def _strip_tags(body: str, tags: list[str]) -> str:
    suffix = "\n\n" + " ".join(f"#{t}" for t in tags)
    return body[: -len(suffix)] if tags and body.endswith(suffix) else body
