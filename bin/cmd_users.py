"""`renkei users add|passwd|disable|enable|list|contact`: the people who use renkei and their roles.

The first user of a data folder (there is none yet) may be added by whoever runs the command there; from
then on adding users, disabling them and resetting others' passwords needs an admin (`--as`).
"""

from __future__ import annotations

import os
import sys

import click

from renkei.bin.acting import PASSWORD_FILE_ENV, acting_user, as_option, read_password
from renkei.bin.common import data_dir_of, data_option, emit_json, handle_errors, json_option
from renkei.errors import ConfigError
from renkei.pipelines.people import ROLES, People
from renkei.pipelines.store import Store

new_password_option = click.option(
    "--password-file", default=None, metavar="FILE", help="a file holding the new password (else it is asked twice)"
)


def _new_password(name: str, password_file: str | None) -> str:
    if password_file is None and os.environ.get(PASSWORD_FILE_ENV) and not sys.stdin.isatty():
        # $RENKEI_PASSWORD_FILE is the acting user's: never take it as someone's new password by accident
        raise ConfigError("give the new password with --password-file FILE (or run on a terminal)")
    return read_password(f"new password for {name}", confirm=True, path=password_file)


def _people(data: str | None) -> tuple[Store, People]:
    store = Store.in_data_dir(data_dir_of(data))
    return store, People(store)


@click.group()
def users() -> None:
    """People who use renkei (console and commands) and their roles."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="repeat for several")
@click.option("--display-name", default="", help="shown in the console and on posts, e.g. 看護師 佐藤")
@new_password_option
@as_option
@data_option
@handle_errors
def add(
    name: str, roles: tuple[str, ...], display_name: str, password_file: str | None, as_user: str | None,
    data: str | None,
) -> None:
    """Add user NAME with its roles; the new user's password is asked (twice) or read from --password-file."""
    store, people = _people(data)
    actor = acting_user(store, as_user, "users.manage").name if people.any() else ""
    password = _new_password(name, password_file)
    people.add(name, roles, password, display_name, actor=actor)
    click.echo(f"user {name}: {', '.join(roles)}")


@users.command("passwd")
@click.argument("name")
@new_password_option
@as_option
@data_option
@handle_errors
def passwd(name: str, password_file: str | None, as_user: str | None, data: str | None) -> None:
    """Set NAME's password (your own, or anyone's as an admin); open console sessions end."""
    store, people = _people(data)
    user = acting_user(store, as_user, "users.manage") if as_user and as_user != name else None
    if user is None:  # one's own password: prove the old one first
        user = people.authenticate(name, read_password(f"current password for {name}"), channel="cli")
    people.set_password(name, _new_password(name, password_file), actor=user.name)
    click.echo(f"user {name}: password changed")


@users.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="enable again instead")
@as_option
@data_option
@handle_errors
def disable(name: str, enable: bool, as_user: str | None, data: str | None) -> None:
    """Disable NAME (their console sessions end at once), or enable them again."""
    store, people = _people(data)
    actor = acting_user(store, as_user, "users.manage")
    people.set_disabled(name, not enable, actor=actor.name)
    click.echo(f"user {name}: {'enabled' if enable else 'disabled'}")


@users.command("list")
@data_option
@json_option
@handle_errors
def list_users(data: str | None, as_json: bool) -> None:
    """Every user with roles and state (no password data)."""
    _store, people = _people(data)
    rows = [
        {"name": u.name, "display_name": u.display_name, "roles": list(u.roles), "disabled": u.disabled}
        for u in people.list()
    ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        state = " (disabled)" if r["disabled"] else ""
        click.echo(f"{r['name']:<20} {','.join(r['roles']):<24} {r['display_name']}{state}")


@users.command("contact")
@click.argument("name")
@click.option("--email", default=None, help="where digests are mailed ('' clears it)")
@click.option("--matrix-id", default=None, help="Matrix id for digest notices, e.g. @sato:example.jp ('' clears it)")
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None, help="the digest's language")
@as_option
@data_option
@handle_errors
def contact(
    name: str, email: str | None, matrix_id: str | None, lang: str | None, as_user: str | None, data: str | None
) -> None:
    """Where NAME gets daily digests (your own, or anyone's as an admin)."""
    from renkei.pipelines.digests import set_contact

    store, people = _people(data)
    if as_user and as_user != name:
        actor = acting_user(store, as_user, "users.manage")
    else:  # one's own contact: prove who you are
        actor = people.authenticate(name, read_password(f"password for {name}"), channel="cli")
    now = set_contact(store, name, email=email, matrix_id=matrix_id, lang=lang, actor=actor.name)
    click.echo(f"user {name}: e-mail {now.email or '-'}, Matrix {now.matrix_id or '-'}, {now.lang}")
