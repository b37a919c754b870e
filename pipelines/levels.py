"""The integration levels' rules for what a person asks, for the CLI and the web console alike.

- level 1 (`render_latest`): ready-to-paste text of a person's latest stored records — only with consent
  in scope, never a message still held for a physician's approval (or rejected), the read audited;
- level 2 (`post_link_card`): a viewer link card built from the registry's viewer ids and the configured
  URL template (connectors/viewer_links.py fills it), posted through `push`;
- level 3 (`push`): what a user chose, stored, rated by the sensitivity rules (a rating the push
  approval gate names waits for a physician), gated (consent, linked group), retried and audited.

Consent is decided by the one rule in gates.py, on every level as at every delivery.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from renkei.config.schema import RenkeiConfig
from renkei.connectors.base import Attachment, TimelinePost
from renkei.connectors.viewer_links import LINK_TEXT, UnlinkedViewerError, split_value, viewer_system, viewer_url
from renkei.db import dumps
from renkei.errors import ConfigError, InputError, NotFoundError, RefusedError
from renkei.mappings import content as kinds
from renkei.mappings.phrases import tag_line
from renkei.mappings.render import Renderer
from renkei.pipelines import privacy
from renkei.pipelines.audit import AuditEntry, current_actor
from renkei.pipelines.documents import POST_ATTACHMENT
from renkei.pipelines.gates import PUSH_PIPELINE, consent_refusal
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import DeliveryState, MessageState
from renkei.pipelines.store import NewDelivery, Processed, Received, Store
from renkei.pipelines.transform import matching_rule
from renkei.records import Note

if TYPE_CHECKING:
    from renkei.pipelines.engine import Engine

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # per file: what care SNS tools commonly accept
MAX_TOTAL_BYTES = 50 * 1024 * 1024
# PDFs, photos, Office documents (care plans, 情報提供書 drafts), video, voice and plain text: what teams share;
# anything else (executables, archives, macro-enabled Office files) is refused. Told by content, not by name.
PUSH_KINDS = kinds.CLINICAL | kinds.OFFICE | kinds.MEDIA
TEXT_EXTENSIONS = {"txt": "text/plain", "csv": "text/csv"}  # text has no signature: its name says, its bytes agree

# What level 1 may show: a message held for a physician (AWAITING_APPROVAL) or quarantined never is, and
# neither is one a physician rejected (FILTERED with that reason).
_NOT_SHOWN = (MessageState.QUARANTINED, MessageState.AWAITING_APPROVAL, MessageState.RECEIVED)
REJECTED_PREFIX = "rejected by a physician"


def require_consent(
    store: Store, person: str, scope: str, action: str, categories: frozenset[str] = frozenset()
) -> None:
    """Refuse (audited, RefusedError) unless PERSON's consent covers `scope` and these data categories."""
    reason = consent_refusal(person, PatientRegistry(store).consent(person), (scope,), categories)
    if reason:
        store.audit([AuditEntry(f"{action}.refused", person, f"person:{person}", reason)])
        raise RefusedError(reason)


# -- level 1 ---------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Rendered:
    message_id: int
    data_type: str
    text: str


def _shown(row: Any) -> bool:
    if row.pipeline == PUSH_PIPELINE or row.state in _NOT_SHOWN:
        return False
    return not (row.state == MessageState.FILTERED and (row.reason or "").startswith(REJECTED_PREFIX))


def _latest_message(store: Store, patient_ids: list[str], data_type: str | None) -> Any:
    """The newest parsed message of these patient ids (optionally of one data type) that may be shown."""
    best = None
    for pid in patient_ids:
        for row in store.list_messages(patient_id=pid, limit=500):
            if not _shown(row):
                continue
            if data_type and row.data_type != data_type:
                continue
            if best is None or row.id > best.id:
                best = row
            break  # newest first: the first match is this patient id's newest
    return best


def render_latest(
    store: Store, renderer: Renderer, person: str, *, template: str, data_type: str | None, scope: str
) -> Rendered:
    """Level 1: the person's latest shown records rendered with `template` (audited). Raises RefusedError
    without consent for `scope` and the records' categories, NotFoundError when there is nothing to show."""
    require_consent(store, person, scope, "render")
    registry = PatientRegistry(store)
    patient_ids = [person, *(v for s, vs in registry.identifiers(person).items() if s.startswith("ehr:") for v in vs)]
    wanted = data_type or (template.removesuffix(".j2") if template != "auto" else None)
    row = _latest_message(store, patient_ids, wanted)
    if row is None and data_type is None and wanted is not None:
        row = _latest_message(store, patient_ids, None)  # a template not named after a data type
    if row is None:
        raise NotFoundError(f"no stored records for patient {person}" + (f" of type {wanted}" if wanted else ""))
    msg, _ = store.get_message(row.id)
    records = msg.records or []
    require_consent(store, person, scope, "render", privacy.categories_of(records))
    basics = store.patient_basics(patient_ids)
    patient = next((basics[p] for p in patient_ids if p in basics), None)
    body = renderer.render(template, data_type=msg.data_type, records=records, patient=patient)
    store.audit([AuditEntry("render.read", person, f"message:{msg.id}", f"template {template}")])
    return Rendered(msg.id, msg.data_type, body)


def pasted_text(phrase_texts: list[str], body: str, tags: list[str]) -> str:
    """What level 1 prints: the chosen phrases, the rendered records, then a tag line of the chosen tags
    the template did not already show."""
    shown = [t for t in tags if f"□{t.lstrip('□■')}" not in body]
    return "\n".join([*phrase_texts, body] + ([tag_line(shown)] if shown else []))


# -- level 2 ---------------------------------------------------------------------------------------
def viewer_links(config: RenkeiConfig, registry: PatientRegistry, person_id: str, viewer_name: str) -> list[dict]:
    """[{"title", "url"}] for every id the person has in this viewer (one per facility)."""
    viewer = config.viewers.get(viewer_name)
    if viewer is None:
        known = ", ".join(sorted(config.viewers)) or "none configured"
        raise NotFoundError(f"no viewer {viewer_name!r} in the configuration (viewers: {known})")
    values = registry.identifiers(person_id).get(viewer_system(viewer_name), [])
    if not values:
        raise UnlinkedViewerError(
            f"患者 {person_id} は {viewer_name} に未登録です / patient {person_id} has no {viewer_name} id; "
            f"link it first: renkei patients link {person_id} --viewer {viewer_name}:ID"
        )
    links = []
    for value in values:
        facility, viewer_id = split_value(viewer_name, viewer, value)
        title = f"{viewer.title}（{facility}）" if facility and len(values) > 1 else viewer.title
        links.append({"title": title, "url": viewer_url(viewer, viewer_id, facility, name=viewer_name)})
    return links


def link_card(config: RenkeiConfig, registry: PatientRegistry, person_id: str, viewer_name: str) -> TimelinePost:
    """The link card for one person and viewer, ready for `push`.

    A later card for the same viewer replaces the earlier one on the timeline (same record_key), so a
    relinked id does not leave a stale link behind.
    """
    links = viewer_links(config, registry, person_id, viewer_name)
    title = config.viewers[viewer_name].title
    return TimelinePost(
        patient_id=person_id,
        text=LINK_TEXT.format(title=title),
        links=links,
        tags=["閲覧リンク"],
        record_key=f"viewer-link:{viewer_name}",
    )


def post_link_card(engine: Engine, destination: str, person_id: str, viewer_name: str, actor: str = "") -> int:
    """Build the card and send it through `push` (consent and group gates, retries, audit).

    A missing viewer id is audited as a refusal (`link.refused`) before the error is raised.
    """
    registry = PatientRegistry(engine.store)
    try:
        post = link_card(engine.config, registry, person_id, viewer_name)
    except (NotFoundError, RefusedError) as exc:
        engine.store.audit([AuditEntry("link.refused", person_id, viewer_system(viewer_name), str(exc), actor)])
        raise
    return push(engine, destination, post, actor=actor)


# -- level 3 ---------------------------------------------------------------------------------------
def check_size(name: str, size: int, total: int) -> None:
    """InputError naming the file when it, or all attachments together, are over the limit."""
    if size > MAX_ATTACHMENT_BYTES:
        raise InputError(
            f"{name} is {size / 1048576:.1f} MB; the limit is {MAX_ATTACHMENT_BYTES // 1048576} MB per file"
        )
    if total > MAX_TOTAL_BYTES:
        raise InputError(f"attachments add up to more than {MAX_TOTAL_BYTES // 1048576} MB")


def check_attachment(name: str, data: bytes, total: int) -> str:
    """The media type of a file a user attaches, told by its content (mappings/content.py); InputError naming
    the file when it may not be sent: too large, of a kind not accepted, or named as another kind than it is."""
    check_size(name, len(data), total)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    found = kinds.identify(data)
    named = next((mt for mt, e in kinds.EXTENSIONS.items() if e == ext and mt != kinds.XML), None)
    named = kinds.JPEG if ext == "jpeg" else named
    if found in PUSH_KINDS:
        if named is not None and named != found and not (found == kinds.CDA and ext == "xml"):
            raise InputError(f"{name} is named .{ext} ({kinds.LABELS[named]}) but its content is {kinds.LABELS[found]}")
        return found
    if found is None and ext in TEXT_EXTENSIONS:
        if b"\x00" in data[:8192]:
            raise InputError(f"{name} is named .{ext} but holds binary data (NUL bytes), not text")
        return TEXT_EXTENSIONS[ext]
    if found is None and named is not None:
        raise InputError(f"{name} is named .{ext} but its content is no {kinds.LABELS[named]} "
                         f"(starts with {kinds.describe_start(data)})")  # fmt: skip
    if found is None and not ext:
        raise InputError(f"cannot tell the media type of {name} from its content or its name")
    what = kinds.LABELS.get(found or "", f"no accepted kind (starts with {kinds.describe_start(data)})")
    raise InputError(f"{name} is {what}; attach PDFs, images, Word/Excel (docx/xlsx), video, audio or plain text")


def user_post(
    person: str, phrase_texts: list[str], text: str, tags: list[str], attachments: list[Attachment], author: str
) -> TimelinePost:
    """A level-3 post: the chosen phrases then the user's text, each tag once; InputError when empty."""
    texts = [*phrase_texts, text.strip()] if text.strip() else list(phrase_texts)
    if not texts and not attachments:
        raise InputError("nothing to send: give --text, --phrase or --attach")
    return TimelinePost(
        patient_id=person,
        text="\n".join(texts),
        tags=list(dict.fromkeys(t.lstrip("□■") for t in tags)),
        attachments=attachments,
        author=author,
    )


def pushed_payload(post: TimelinePost) -> dict[str, Any]:
    """The delivery payload of a push: its files as references into the stored raw input (the post itself,
    `documents.POST_ATTACHMENT`), so each file is stored once, not again in the payload."""
    payload = post.to_dict()
    payload["attachments"] = [
        {"name": a.name, "media_type": a.media_type, "content": f"{POST_ATTACHMENT}{i}", "size": len(a.data),
         "sha256": hashlib.sha256(a.data).hexdigest()}
        for i, a in enumerate(post.attachments)
    ]  # fmt: skip
    return payload


def push(engine: Engine, destination: str, post: TimelinePost, actor: str = "") -> int:
    """Send what a user chose (text, tags, links, attachments) to one patient's timeline, through the
    same path as everything else: stored, rated, gated, retried, audited. Returns the message id; raises
    RefusedError with the reason when a gate refuses (nothing is posted then). A push the sensitivity
    rules rate at a level the push approval gate names is held (AWAITING_APPROVAL) until approved."""
    config, store = engine.config, engine.store
    if destination not in config.connectors:
        raise ConfigError(f"unknown destination {destination!r}; known: {', '.join(config.connectors)}")
    raw = dumps(post.to_dict()).encode("utf-8")
    item = Received(f"push:{uuid.uuid4().hex}", "", raw, group=post.patient_id)
    (mid,) = store.receive_many(PUSH_PIPELINE, f"user:{actor or current_actor()}", [item])
    note = Note(patient_id=post.patient_id, text=post.text, tags=list(post.tags), author=actor or current_actor())
    records = [note.to_dict()]
    rule = matching_rule(config.sensitivity, "NOTE", records, post.tags)
    level = rule.level if rule else "high"
    if post.audience == "team" and rule is not None and rule.audience:  # a rule may narrow who sees it
        post = dataclasses.replace(post, audience=rule.audience)
    approval = config.push_gates.approval
    held = approval is not None and level in approval.required_for
    store.save_processed(
        [
            Processed(
                mid, PUSH_PIPELINE, MessageState.AWAITING_APPROVAL if held else MessageState.QUEUED,
                reason=f"sensitivity {level}: waits for a physician's approval" if held else "",
                patient_id=post.patient_id, data_type="NOTE", records=records, warnings=[f"sensitivity {level}"],
                deliveries=[NewDelivery(destination, f"push:{mid}", pushed_payload(post))],
            )
        ]
    )  # fmt: skip
    if held:
        return mid
    engine.deliver_due()
    _msg, dels = store.get_message(mid)
    if dels and dels[0].state == DeliveryState.DEAD and dels[0].last_error.startswith("RefusedError"):
        raise RefusedError(dels[0].last_error.removeprefix("RefusedError: "))
    return mid
