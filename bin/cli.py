"""The `renkei` command: parses arguments and calls the parts. Subcommands live in `cmd_*.py` modules."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

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
    "digest": "renkei.bin.cmd_digest:digest",
    "devices": "renkei.bin.cmd_bedside:devices",
    "link": "renkei.bin.cmd_levels:link",
    "mapping": "renkei.bin.cmd_mapping:mapping",
    "messages": "renkei.bin.cmd_ops:messages",
    "mllp": "renkei.bin.cmd_mllp:mllp",
    "patients": "renkei.bin.cmd_patients:patients",
    "phrases": "renkei.bin.cmd_levels:phrases",
    "prune": "renkei.bin.cmd_prune:prune",
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
    "worker": "renkei.bin.cmd_worker:worker",
}


def _report(message: str, exit_code: int, as_json: bool, details: list[dict[str, Any]] | None = None) -> None:
    if as_json:  # a machine reading --json output gets the error as JSON too, on stdout
        body: dict[str, Any] = {"error": message, "exit_code": exit_code}
        if details:
            body["errors"] = details
        click.echo(json.dumps(body, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
        for d in details or []:
            line = f" (line {d['line']})" if d.get("line") else ""
            click.echo(f"  {d['path']}{line}: {d['error']}", err=True)


class _LazyGroup(click.Group):
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Every error ends as one line (or one JSON object under --json) and the documented exit code:
        2 bad input, 1 refused / not found / check failed, 3 unexpected (RENKEI_DEBUG=1 shows the traceback)."""
        from renkei.bin.common import EXIT_INTERNAL, CommandError

        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, standalone_mode=False, **extra)
        as_json = "--json" in argv
        try:
            rv = super().main(argv, prog_name, standalone_mode=False, **extra)
        except CommandError as exc:
            _report(exc.message, exc.exit_code, as_json, exc.details)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if as_json:
                _report(exc.format_message(), exc.exit_code, True)
            else:
                exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C at a prompt or during a command
            _report("interrupted", 1, as_json)
            sys.exit(1)
        except OSError as exc:  # the system refused (permissions, a full disk, a folder that went away)
            _report(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "), 1, as_json)
            sys.exit(1)
        except Exception as exc:
            # Never a traceback for users (and no exception text: it may quote patient data); the place
            # it happened is enough for a bug report, RENKEI_DEBUG=1 gives the whole traceback.
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f" in {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
            logging.getLogger("renkei").debug("unexpected error", exc_info=True)
            if os.environ.get("RENKEI_DEBUG"):
                traceback.print_exc()
            _report(f"unexpected {type(exc).__name__}{where} (a bug: RENKEI_DEBUG=1 shows the details)",
                    EXIT_INTERNAL, as_json)  # fmt: skip
            sys.exit(EXIT_INTERNAL)
        # click returns the code of ctx.exit(n) when not standalone; a command's own return value is not a code
        sys.exit(rv if type(rv) is int else 0)

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
