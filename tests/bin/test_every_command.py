"""Every command, found by walking the click command tree (so commands added later are covered without
a list), run with missing, malformed, unknown and contradictory arguments: never a traceback, exit 2 for
bad input, 1 for refused / not found, and under --json the error is one JSON object on stdout.

The documented rule (README, "After the demo"): 0 done; 1 refused, not found, or a check that found
problems; 2 bad input (arguments, files, configuration); 3 unexpected failure (a bug; one line, never a
traceback). Only invocations that click rejects before the command runs are generated, so no command
here does anything real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from renkei.bin.cli import main


def _walk(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{' '.join((*path, name))} is listed but cannot be loaded"
            yield from _walk(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = sorted(_walk(main), key=lambda pc: pc[0])
IDS = [" ".join(p) for p, _ in COMMANDS]


def _has_json(cmd: click.Command) -> bool:
    return any("--json" in getattr(p, "opts", ()) for p in cmd.params)


def _good_value(param: click.Parameter, tmp: Path) -> str:
    """A value click accepts for this parameter's type (the command itself may still refuse it)."""
    t = param.type
    if isinstance(t, click.Choice):
        return str(t.choices[0])
    if isinstance(t, (click.IntRange, click.FloatRange)):
        return str(int(t.min) if t.min is not None else 1)
    if t in (click.INT, click.FLOAT):
        return "1"
    if isinstance(t, click.DateTime):
        return "2026-01-01"
    if isinstance(t, click.Path):
        if t.exists and not t.file_okay:
            return str(tmp)
        f = tmp / "input.txt"
        f.write_text("not what the command wants\n", encoding="utf-8")
        return str(f)
    if isinstance(t, click.File):
        return "-"  # standard input: click opens a named file while parsing and may not close it on an error
    return "x"


def _bad_value(param: click.Parameter, tmp: Path) -> str | None:
    """A value this parameter's type must reject, or None when any string is acceptable to click."""
    t = param.type
    if isinstance(t, click.Choice):
        return "no-such-choice"
    if isinstance(t, (click.IntRange, click.FloatRange)) or t in (click.INT, click.FLOAT):
        return "not-a-number"
    if isinstance(t, click.DateTime):
        return "not-a-date"
    if isinstance(t, click.Path) and t.exists:
        return str(tmp / "does-not-exist")
    return None


def _required_args(cmd: click.Command, tmp: Path, skip: click.Parameter | None = None) -> list[str]:
    out: list[str] = []
    for p in cmd.params:
        if p is skip or not p.required:
            continue
        if isinstance(p, click.Argument):
            out.append(_good_value(p, tmp))
        elif isinstance(p, click.Option) and not p.is_flag:
            out += [p.opts[0], _good_value(p, tmp)]
    return out


def _run(path: tuple[str, ...], args: list[str]) -> Result:
    return CliRunner().invoke(main, [*path, *args])


def _assert_clean(result: Result, expected: int, what: str) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, f"{what}: traceback\n{text}"
    assert result.exit_code == expected, f"{what}: exit {result.exit_code}, expected {expected}\n{text}"


def _assert_json_error(path: tuple[str, ...], args: list[str], expected: int) -> None:
    result = _run(path, [*args, "--json"])
    what = " ".join((*path, *args, "--json"))
    _assert_clean(result, expected, what)
    body = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert body["exit_code"] == expected and body["error"], what


def test_the_walk_finds_the_commands() -> None:
    names = set(IDS)
    assert {"audit verify", "audit anchor", "reprocess", "patients import", "config check", "run"} <= names
    assert len(names) >= 30


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_unknown_option_is_bad_input(path: tuple[str, ...], cmd: click.Command, tmp_path: Path) -> None:
    args = [*_required_args(cmd, tmp_path), "--no-such-option"]
    _assert_clean(_run(path, args), 2, " ".join((*path, *args)))
    if _has_json(cmd):
        _assert_json_error(path, args, 2)


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_missing_required_arguments_are_bad_input(path: tuple[str, ...], cmd: click.Command, tmp_path: Path) -> None:
    required = [p for p in cmd.params if p.required]
    if not required:
        pytest.skip("nothing required: run without arguments it would do its work")
    for p in required:  # each required parameter left out in turn, the others given
        args = _required_args(cmd, tmp_path, skip=p)
        _assert_clean(_run(path, args), 2, f"{' '.join((*path, *args))} (without {p.name})")
        if _has_json(cmd):
            _assert_json_error(path, args, 2)


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_malformed_values_are_bad_input(path: tuple[str, ...], cmd: click.Command, tmp_path: Path) -> None:
    checked = 0
    for p in cmd.params:
        bad = _bad_value(p, tmp_path)
        if bad is None or (isinstance(p, click.Option) and (p.is_flag or p.nargs != 1)):
            continue
        if isinstance(p, click.Argument):
            args = [bad if q is p else v for q, v in _positional(cmd, tmp_path)]
            args += _required_options(cmd, tmp_path)
        else:
            args = [*_required_args(cmd, tmp_path, skip=p), p.opts[0], bad]
        _assert_clean(_run(path, args), 2, " ".join((*path, *args)))
        if _has_json(cmd):
            _assert_json_error(path, args, 2)
        checked += 1
    if not checked:
        pytest.skip("no parameter whose type rejects values (free text only)")


def _positional(cmd: click.Command, tmp: Path) -> list[tuple[click.Parameter, str]]:
    wanted = [p for p in cmd.params if isinstance(p, click.Argument) and (p.required or p.nargs == -1)]
    return [(p, _good_value(p, tmp)) for p in wanted]


def _required_options(cmd: click.Command, tmp: Path) -> list[str]:
    out: list[str] = []
    for p in cmd.params:
        if isinstance(p, click.Option) and p.required and not p.is_flag:
            out += [p.opts[0], _good_value(p, tmp)]
    return out


# Contradictory or semantically bad arguments click cannot see, and things that are not there.
CASES = [
    (["patients", "consent", "P1", "--grant", "--withdraw", "--scope", "all", "--date", "2026-01-01"], 2),
    (["patients", "consent", "P1", "--date", "2026-01-01"], 2),
    (["patients", "consent", "P1", "--grant", "--date", "2026-01-01"], 2),
    (["patients", "consent", "P1", "--grant", "--scope", "all", "--date", "2026-13-01"], 2),
    (["patients", "consent", "../../etc", "--grant", "--scope", "all", "--date", "2026-01-01"], 2),
    (["patients", "link", "P1"], 2),
    (["patients", "show", "<script>"], 2),
    (["reprocess"], 2),
    (["reprocess", "--all"], 2),
    (["reprocess", "--pipeline", "p"], 2),
    (["reprocess", "0"], 2),
    (["audit", "verify", "--anchor", "garbage"], 2),
    (["audit", "verify", "--anchor", "5:" + "z" * 64], 2),
    (["messages", "list", "--limit", "0"], 2),
    (["reprocess", "99999"], 1),
    (["messages", "show", "99999"], 1),
    (["status"], 1),  # no data folder yet
    (["patients", "show", "P-nobody"], 1),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_contradictory_bad_and_absent(args: list[str], expected: int) -> None:
    _assert_clean(_run((), args), expected, " ".join(args))
    cmd = main
    ctx = click.Context(main)
    for name in args:
        if not isinstance(cmd, click.Group):
            break
        cmd = cmd.get_command(ctx, name)
    if _has_json(cmd):
        _assert_json_error((), args, expected)


def test_an_unexpected_failure_is_one_line_exit_3_without_its_text(monkeypatch) -> None:
    from renkei.bin import common

    def broken(data, data_dir=None):
        raise RuntimeError("山田太郎 9999013")  # whatever a bug's message holds, it is not printed

    monkeypatch.setattr("renkei.bin.cmd_ops.open_store", broken)
    assert common.EXIT_INTERNAL == 3
    result = _run(("status",), [])
    _assert_clean(result, 3, "status with a bug")
    assert "unexpected RuntimeError in test_every_command.py:" in result.stderr
    assert "山田太郎" not in result.stderr + result.stdout
    _assert_json_error(("status",), [], 3)


def test_a_refusal_by_the_system_is_exit_1(monkeypatch) -> None:
    def denied(data, data_dir=None):
        raise PermissionError(13, "Permission denied", "/srv/renkei-data/renkei.sqlite")

    monkeypatch.setattr("renkei.bin.cmd_ops.open_store", denied)
    result = _run(("status",), [])
    _assert_clean(result, 1, "status, permission denied")
    assert result.stderr.strip() == "error: Permission denied: /srv/renkei-data/renkei.sqlite"
