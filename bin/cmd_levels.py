"""Integration levels 1–3 as user actions, plus the phrase list.

- `renkei render PERSON --template NAME [--phrase ID …] [--tag T …]`  level 1: ready-to-paste text of the
  person's latest stored records (sandboxed template), after the chosen fixed phrases, with a tag line.
- `renkei link PERSON --viewer NAME --to DEST`  level 2: a viewer link card, posted through the engine.
- `renkei push PERSON --to DEST [--text …] [--phrase ID …] [--tag T …] [--attach FILE …]`  level 3: what
  the user chose, with attachments, through the engine (stored, gated, retried, audited).
- `renkei phrases`  the fixed phrases and tags (shipped + the site's `phrases_dir`).

PERSON is the registry's person id (by convention the first EHR's patient id). Nothing is shown or sent
for a person without consent in scope; refusals exit 1 with the reason and are audited; bad input exits 2.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import click

from renkei.bin.cmd_patients import check_person, config_option, open_config
from renkei.bin.common import data_dir_of, data_option, emit_json, handle_errors, json_option
from renkei.connectors.base import Attachment, TimelinePost
from renkei.errors import NotFoundError, RefusedError
from renkei.mappings.phrases import PhraseLibrary, load_phrases, tag_line
from renkei.mappings.render import Renderer
from renkei.pipelines.audit import AuditEntry, current_actor
from renkei.pipelines.gates import PUSH_PIPELINE
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store import Store

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # per file: what care SNS tools commonly accept
MAX_TOTAL_BYTES = 50 * 1024 * 1024
# PDFs, photos, video and plain text: what teams share; anything else (executables, archives) is refused.
ALLOWED_MEDIA = ("application/pdf", "image/", "video/", "audio/", "text/plain", "text/csv")
mimetypes.add_type("image/heic", ".heic")  # phone photos; not in every system's mime.types
mimetypes.add_type("image/webp", ".webp")

phrase_option = click.option(
    "--phrase", "phrase_ids", multiple=True, metavar="ID", help="a fixed phrase to put first (repeatable)"
)
tag_option = click.option("--tag", "tags", multiple=True, metavar="TAG", help="a tag, shown as □TAG (repeatable)")


def _library(config_file: Path | None, data_dir: Path) -> tuple[Any, PhraseLibrary]:
    loaded = open_config(config_file, data_dir, required=False)
    return loaded, load_phrases(loaded.config.phrases_dir if loaded else None)


def _chosen(library: PhraseLibrary, phrase_ids: tuple[str, ...], tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(phrase texts, tags): the phrases' own tags follow the ones given. Unknown ids are bad input."""
    texts, all_tags = [], list(tags)
    for pid in phrase_ids:
        try:
            p = library.phrase(pid)
        except NotFoundError as exc:
            raise click.BadParameter(str(exc), param_hint="--phrase") from None
        texts.append(p.text)
        all_tags.extend(p.tags)
    try:
        tag_line(all_tags)  # validates
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tag") from None
    return texts, all_tags


def _require_consent(store: Store, person: str, scope: str, action: str) -> None:
    """The same rule the engine's gates apply, for reads meant to be pasted elsewhere."""
    c = PatientRegistry(store).consent(person)
    reason = ""
    if c is None:
        reason = f"patient {person} has no consent on record (gate: consent)"
    elif not c.allows(scope):
        reason = (
            f"patient {person} withdrew consent on {c.consented_on} (gate: consent)"
            if c.state != "granted"
            else f"patient {person}'s consent does not cover {scope} (gate: consent)"
        )
    if reason:
        store.audit([AuditEntry(f"{action}.refused", person, f"person:{person}", reason)])
        raise RefusedError(reason)


# -- level 1 ---------------------------------------------------------------------------------------
def _latest_message(store: Store, patient_ids: list[str], data_type: str | None) -> Any:
    """The newest parsed message of these patient ids (optionally of one data type), not a user push."""
    best = None
    for pid in patient_ids:
        for row in store.list_messages(patient_id=pid, limit=500):
            if row.pipeline == PUSH_PIPELINE or row.state == MessageState.QUARANTINED:
                continue
            if data_type and row.data_type != data_type:
                continue
            if best is None or row.id > best.id:
                best = row
            break  # newest first: the first match is this patient id's newest
    return best


@click.command()
@click.argument("person")
@click.option("--template", default="auto", show_default=True, help="template name (auto: by the records' type)")
@click.option("--data-type", default=None, help="which records (e.g. OML-11); default: the template's, else latest")
@phrase_option
@tag_option
@click.option("--scope", default="timeline", show_default=True, help="consent scope the pasted text needs")
@config_option
@data_option
@json_option
@handle_errors
def render(
    person: str,
    template: str,
    data_type: str | None,
    phrase_ids: tuple[str, ...],
    tags: tuple[str, ...],
    scope: str,
    config_file: Path | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Level 1: print ready-to-paste text for PERSON's latest records (the read is audited)."""
    check_person(person)
    data_dir = data_dir_of(data)
    loaded, library = _library(config_file, data_dir)
    texts, all_tags = _chosen(library, phrase_ids, tags)
    renderer = Renderer([loaded.config.templates_dir] if loaded and loaded.config.templates_dir else [], library)
    if template != "auto":
        renderer.template_for(template)  # an unknown or broken template is a config error (exit 2)
    store = Store.in_data_dir(data_dir)
    try:
        _require_consent(store, person, scope, "render")
        registry = PatientRegistry(store)
        patient_ids = [
            person,
            *(v for s, vs in registry.identifiers(person).items() if s.startswith("ehr:") for v in vs),
        ]
        wanted = data_type or (template.removesuffix(".j2") if template != "auto" else None)
        row = _latest_message(store, patient_ids, wanted)
        if row is None and data_type is None and wanted is not None:
            row = _latest_message(store, patient_ids, None)  # a template not named after a data type
        if row is None:
            raise NotFoundError(f"no stored records for patient {person}" + (f" of type {wanted}" if wanted else ""))
        msg, _ = store.get_message(row.id)
        basics = store.patient_basics(patient_ids)
        patient = next((basics[p] for p in patient_ids if p in basics), None)
        body = renderer.render(template, data_type=msg.data_type, records=msg.records or [], patient=patient)
        store.audit([AuditEntry("render.read", person, f"message:{msg.id}", f"template {template}")])
    finally:
        store.close()
    shown = [t for t in all_tags if f"□{t.lstrip('□■')}" not in body]  # the template may already tag it
    parts = [*texts, body] + ([tag_line(shown)] if shown else [])
    text = "\n".join(parts)
    if as_json:
        emit_json(
            {"person_id": person, "message_id": msg.id, "data_type": msg.data_type, "template": template,
             "phrases": list(phrase_ids), "tags": list(dict.fromkeys(all_tags)), "text": text}
        )  # fmt: skip
        return
    click.echo(text)


@click.command()
@config_option
@data_option
@json_option
@handle_errors
def phrases(config_file: Path | None, data: str | None, as_json: bool) -> None:
    """The fixed phrases (by category) and tags: shipped, plus the site's phrases_dir."""
    _loaded, library = _library(config_file, data_dir_of(data))
    if as_json:
        emit_json(
            {
                "phrases": [
                    {"id": p.id, "text": p.text, "category": p.category, "tags": list(p.tags), "origin": p.origin}
                    for p in library
                ],
                "tags": list(library.tags),
            }
        )
        return
    for category, items in library.categories().items():
        click.echo(f"[{category or '-'}]")
        for p in items:
            click.echo(f"  {p.id:<24} {p.text}" + (f"  {tag_line(p.tags)}" if p.tags else ""))
    click.echo(tag_line(library.tags))


# -- levels 2 and 3 --------------------------------------------------------------------------------
def _engine(config_file: Path | None, data_dir: Path) -> Any:
    from renkei.pipelines.engine import Engine

    loaded = open_config(config_file, data_dir, required=True)
    assert loaded is not None
    return Engine(loaded, Store.in_data_dir(data_dir), data_dir)


def _delivery(engine: Any, mid: int) -> dict[str, Any]:
    _msg, dels = engine.store.get_message(mid)
    d = dels[0] if dels else None
    return {
        "message_id": mid,
        "destination": d.destination if d else "",
        "state": d.state if d else "",
        "receipt": (d.receipt or "") if d else "",
        "error": (d.last_error or "") if d else "",
    }


def _report(out: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(out)
        return
    line = f"{what} for {out['person_id']} -> {out['destination']}: message {out['message_id']}, {out['state']}"
    if out["receipt"]:
        line += f" (post {out['receipt']})"
    if out["error"]:
        line += f"; will retry: {out['error']}"
    click.echo(line)


@click.command()
@click.argument("person")
@click.option("--viewer", required=True, metavar="NAME", help="a viewer from the configuration's `viewers`")
@click.option("--to", "dest", required=True, metavar="DEST", help="the timeline connector to post to")
@config_option
@data_option
@json_option
@handle_errors
def link(person: str, viewer: str, dest: str, config_file: Path | None, data: str | None, as_json: bool) -> None:
    """Level 2: post PERSON's viewer link card (the URL carries the viewer id, never a name)."""
    from renkei.connectors.viewer_links import post_link_card

    check_person(person)
    engine = _engine(config_file, data_dir_of(data))
    try:
        mid = post_link_card(engine, dest, person, viewer)
        out = {"person_id": person, "viewer": viewer, **_delivery(engine, mid)}
    finally:
        engine.close()
        engine.store.close()
    _report(out, as_json, f"link card {viewer}")


def read_attachments(paths: tuple[Path, ...]) -> list[Attachment]:
    """Attachments from files: media type by extension, sizes checked; bad input is a BadParameter."""
    out, total = [], 0
    for path in paths:
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            raise click.BadParameter(
                f"{path.name} is {size / 1048576:.1f} MB; the limit is {MAX_ATTACHMENT_BYTES // 1048576} MB per file",
                param_hint="--attach",
            )
        total += size
        if total > MAX_TOTAL_BYTES:
            raise click.BadParameter(
                f"attachments add up to more than {MAX_TOTAL_BYTES // 1048576} MB", param_hint="--attach"
            )
        media_type, encoding = mimetypes.guess_type(path.name, strict=False)
        if media_type is None or encoding is not None:
            raise click.BadParameter(
                f"cannot tell the media type of {path.name} from its extension", param_hint="--attach"
            )
        if not media_type.startswith(ALLOWED_MEDIA):
            raise click.BadParameter(
                f"{path.name} is {media_type}; attach PDFs, images, video, audio or plain text", param_hint="--attach"
            )
        out.append(Attachment(path.name, media_type, path.read_bytes()))
    return out


@click.command()
@click.argument("person")
@click.option("--to", "dest", required=True, metavar="DEST", help="the timeline connector to post to")
@click.option("--text", default="", help="the message (after any --phrase)")
@phrase_option
@tag_option
@click.option(
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="a file to attach: PDF, image, video, audio, text (repeatable)",
)
@click.option("--author", default=None, help="who is posting (default: $RENKEI_ACTOR or the OS user)")
@config_option
@data_option
@json_option
@handle_errors
def push(
    person: str,
    dest: str,
    text: str,
    phrase_ids: tuple[str, ...],
    tags: tuple[str, ...],
    attach: tuple[Path, ...],
    author: str | None,
    config_file: Path | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Level 3: send what you chose to PERSON's timeline (stored, consent-gated, retried, audited)."""
    check_person(person)
    data_dir = data_dir_of(data)
    _loaded, library = _library(config_file, data_dir)
    texts, all_tags = _chosen(library, phrase_ids, tags)
    if text.strip():
        texts.append(text.strip())
    if not texts and not attach:
        raise click.UsageError("nothing to send: give --text, --phrase or --attach")
    attachments = read_attachments(attach)
    actor = author or current_actor()
    post = TimelinePost(
        patient_id=person,
        text="\n".join(texts),
        tags=list(dict.fromkeys(t.lstrip("□■") for t in all_tags)),
        attachments=attachments,
        author=actor,
    )
    engine = _engine(config_file, data_dir)
    try:
        mid = engine.push(dest, post, actor=actor)
        out = {"person_id": person, "attachments": [a.name for a in attachments], **_delivery(engine, mid)}
    finally:
        engine.close()
        engine.store.close()
    _report(out, as_json, "push")
