"""Who a command acts as: a named renkei user, authenticated, with the role the command needs.

The same users and roles as the web console (pipelines/people.py): `--as USER` (or $RENKEI_USER), the
password asked on the terminal or read from the file named by $RENKEI_PASSWORD_FILE (for scripts; never
a password on the command line, where `ps` would show it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from renkei.errors import ConfigError, RefusedError
from renkei.pipelines.people import People, User
from renkei.pipelines.store import Store

PASSWORD_FILE_ENV = "RENKEI_PASSWORD_FILE"

as_option = click.option(
    "--as", "as_user", default=None, envvar="RENKEI_USER", metavar="USER",
    help="act as this renkei user (default $RENKEI_USER); password asked, or read from $RENKEI_PASSWORD_FILE",
)  # fmt: skip


def read_password(prompt: str = "password", confirm: bool = False, path: str | None = None) -> str:
    """From `path`, else the file named by $RENKEI_PASSWORD_FILE (the acting user's), else the terminal."""
    where = path or os.environ.get(PASSWORD_FILE_ENV)
    if where:
        try:
            return Path(where).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read the password file {where} ({exc.strerror})") from None
    if not sys.stdin.isatty():
        raise ConfigError(f"no terminal to ask the password on: set ${PASSWORD_FILE_ENV} to a file holding it")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def acting_user(store: Store, as_user: str | None, permission: str) -> User:
    """The authenticated user, refused (audited) unless their roles allow `permission`."""
    if not as_user:
        raise RefusedError("this command acts as a renkei user: give --as USER (or set RENKEI_USER)")
    people = People(store)
    user = people.authenticate(as_user, read_password(f"password for {as_user}"), channel="cli")
    people.require(user, permission, "cli")
    return user
