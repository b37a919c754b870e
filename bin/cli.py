"""The `renkei` command: parses arguments and calls the parts. Subcommands live in `cmd_*.py` modules."""

from __future__ import annotations

import importlib

import click

from renkei import __version__

# name -> "module:attribute"; loaded on use so `renkei --help` stays fast and one broken part cannot
# take the whole command down. Add a line here when a part brings its own subcommand.
SUBCOMMANDS: dict[str, str] = {
    "approvals": "renkei.bin.cmd_approvals:approvals",
    "audit": "renkei.bin.cmd_ops:audit",
    "backup": "renkei.bin.cmd_db:backup",
    "badges": "renkei.bin.cmd_bedside:badges",
    "conformance": "renkei.bin.cmd_conformance:conformance",
    "config": "renkei.bin.cmd_config:config",
    "db": "renkei.bin.cmd_db:db",
    "demo": "renkei.bin.cmd_run:demo",
    "device": "renkei.bin.cmd_device:device",
    "devices": "renkei.bin.cmd_bedside:devices",
    "link": "renkei.bin.cmd_levels:link",
    "mapping": "renkei.bin.cmd_mapping:mapping",
    "messages": "renkei.bin.cmd_ops:messages",
    "mllp": "renkei.bin.cmd_mllp:mllp",
    "patients": "renkei.bin.cmd_patients:patients",
    "phrases": "renkei.bin.cmd_levels:phrases",
    "push": "renkei.bin.cmd_levels:push",
    "render": "renkei.bin.cmd_levels:render",
    "reprocess": "renkei.bin.cmd_ops:reprocess",
    "restore": "renkei.bin.cmd_db:restore",
    "run": "renkei.bin.cmd_run:run",
    "serve": "renkei.bin.cmd_serve:serve",
    "simulate": "renkei.bin.cmd_simulate:simulate",
    "ssmix2": "renkei.bin.cmd_ssmix2:ssmix2",
    "status": "renkei.bin.cmd_ops:status",
    "timeline": "renkei.bin.cmd_timeline:timeline",
    "users": "renkei.bin.cmd_users:users",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *SUBCOMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in SUBCOMMANDS:
            module_name, attr = SUBCOMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="renkei")
def main() -> None:
    """renkei (連携): connect EHR views, vital-sign devices and patient timelines."""
