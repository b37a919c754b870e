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

from pathlib import Path
from typing import Any

import click

from renkei.audiences import normalize_audience
from renkei.bin.cmd_patients import check_person, config_option, open_config
from renkei.bin.common import data_dir_of, data_option, emit_json, handle_errors, json_option
from renkei.connectors.base import Attachment
from renkei.errors import InputError, NotFoundError
from renkei.mappings.phrases import PhraseLibrary, load_phrases, tag_line
from renkei.mappings.render import Renderer
from renkei.pipelines import levels
from renkei.pipelines.audit import current_actor
from renkei.pipelines.store import Store

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
        rendered = levels.render_latest(store, renderer, person, template=template, data_type=data_type, scope=scope)
    finally:
        store.close()
    text = levels.pasted_text(texts, rendered.text, all_tags)
    if as_json:
        emit_json(
            {"person_id": person, "message_id": rendered.message_id, "data_type": rendered.data_type,
             "template": template, "phrases": list(phrase_ids), "tags": list(dict.fromkeys(all_tags)), "text": text}
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
    check_person(person)
    engine = _engine(config_file, data_dir_of(data))
    try:
        mid = engine.link_card(dest, person, viewer)
        out = {"person_id": person, "viewer": viewer, **_delivery(engine, mid)}
    finally:
        engine.close()
        engine.store.close()
    _report(out, as_json, f"link card {viewer}")


def read_attachments(paths: tuple[Path, ...]) -> list[Attachment]:
    """Attachments from files, their media type told by content and checked by the level-3 rules; bad input is a
    BadParameter naming the file."""
    out, total = [], 0
    for path in paths:
        size = path.stat().st_size
        total += size
        try:
            levels.check_size(path.name, size, total)  # before reading: an oversize file is never loaded
            data = path.read_bytes()
            media_type = levels.check_attachment(path.name, data, total)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--attach") from None
        out.append(Attachment(path.name, media_type, data))
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
@click.option(
    "--audience", default="team", show_default=True, help="who in the team sees it: team, physicians, roles:R1,R2"
)
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
    audience: str,
    config_file: Path | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Level 3: send what you chose to PERSON's timeline (stored, consent-gated, retried, audited)."""
    check_person(person)
    data_dir = data_dir_of(data)
    _loaded, library = _library(config_file, data_dir)
    texts, all_tags = _chosen(library, phrase_ids, tags)
    if not texts and not text.strip() and not attach:
        raise click.UsageError("nothing to send: give --text, --phrase or --attach")
    attachments = read_attachments(attach)
    actor = author or current_actor()
    post = levels.user_post(person, texts, text, all_tags, attachments, actor)
    try:
        post.audience = normalize_audience(audience)  # docs/teams.md
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--audience") from None
    engine = _engine(config_file, data_dir)
    try:
        mid = engine.push(dest, post, actor=actor)
        out = {"person_id": person, "attachments": [a.name for a in attachments], **_delivery(engine, mid)}
    finally:
        engine.close()
        engine.store.close()
    _report(out, as_json, "push")
