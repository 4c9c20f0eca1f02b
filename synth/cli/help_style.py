"""The command line's help conventions, in one place: `-h` as well as `--help`, arguments as
`CONFIG` in usage lines, and on/off flags without a value type.

Typer's help (this major version vendors its own click) writes a required argument as
`{config}` and, in the Rich options table, prints every option's type, flags included, so each
flag reads `<bool>` (its plain-text formatter skips flags; the Rich one asks
`display_type_rich`, which only a metavar overrides). `DistillCommand` gives arguments an
upper-case metavar and flags an empty one, and writes usage the way click always has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

HELP = {"help_option_names": ["-h", "--help"]}


def _plain_flags(params: list[Any]) -> None:
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""  # a flag takes no value: no type to show
        elif isinstance(p, TyperArgument) and p.metavar is None:
            p.metavar = (p.name or "").upper()


class DistillCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_flags([option])
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`CONFIG` for a required argument, `[PATH]` for an optional one (not `{config}`)."""
        rv = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                piece = p.display_name_raw if p.required else f"[{p.display_name_raw}]"
                rv.append(piece + ("..." if p.nargs != 1 else ""))
            else:
                rv.extend(p.get_usage_pieces(ctx))
        return rv


class DistillGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_flags([option])
        return option


class DistillTyper(typer.Typer):
    """A Typer whose commands all follow these conventions, and whose help answers to -h."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**HELP, **(kwargs.get("context_settings") or {})}
        kwargs.setdefault("cls", DistillGroup)
        super().__init__(*args, **kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", DistillCommand)
        return super().command(*args, **kwargs)
