"""The README's commands stay in step with the CLI: every `matcher ...` line parses, every command has --help."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from matcher.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = []
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():  # continued lines joined
            for part in line.split("&&"):
                part = part.split(" #")[0].strip()
                if part.startswith("matcher "):
                    lines.append(part)
    return lines


def test_quick_start_has_exactly_two_shell_blocks():
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M).group(1)
    blocks = re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    assert "matcher train" in blocks[0] and "pytest" in blocks[1]


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_command_parses(line):
    args = shlex.split(line)[1:]
    cmd: click.Command = main
    while isinstance(cmd, click.Group):
        name, args = args[0], args[1:]
        cmd = cmd.commands.get(name)
        assert cmd is not None, f"README uses unknown command {name!r}"
    cmd.make_context(cmd.name, list(args))  # raises on an unknown option or a bad value


def _all_commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", list(_all_commands(main)), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
