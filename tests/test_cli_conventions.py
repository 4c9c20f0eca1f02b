"""The command line's conventions, on every command: -h and --help, --version, CONFIG in usage
lines, flags without a value type."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from synth.cli.verbs import app
from tests.conftest import distill

runner = CliRunner()


def _commands() -> list[list[str]]:
    """Every command path, subcommands included, except `sim` (its own parser's help)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    paths: list[list[str]] = [[]]
    for name, cmd in root.commands.items():
        if name == "sim":
            continue
        paths.append([name])
        if isinstance(cmd, TyperGroup):
            paths += [[name, sub] for sub in cmd.commands]
    return paths


COMMANDS = _commands()


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "distill" for p in COMMANDS])
def test_every_command_answers_dash_h_like_help(path: list[str]) -> None:
    short = runner.invoke(app, [*path, "-h"], env={"COLUMNS": "120"})
    long = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert short.exit_code == 0, short.output
    assert short.output == long.output
    usage = next(line for line in short.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert "<bool>" not in short.output
    assert "-h" in short.output


def test_usage_names_config_and_flags_show_no_type() -> None:
    r = runner.invoke(app, ["harvest", "-h"], env={"COLUMNS": "120"})
    assert re.search(r"Usage: .*harvest \[OPTIONS\] CONFIG\s*$", r.output, re.M), r.output
    dry = next(line for line in r.output.splitlines() if "--dry-run" in line)
    assert "<" not in dry and "estimate tokens" in dry
    budget = next(line for line in r.output.splitlines() if "--budget" in line)
    assert "<float>" in budget, "options that take a value still show its type"


def test_version_and_a_missing_config_argument() -> None:
    r = distill("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"distill {version('distill')}"
    r = distill("logs")
    assert r.returncode == 2 and "Missing argument 'CONFIG'" in r.stderr
