"""The config reference (docs/config-reference.md), generated from the pydantic models where
each key is declared and documented, so the docs cannot drift from the code.

    python -m synth.cli.config_reference > docs/config-reference.md
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from synth.config import PriceConfig, RunConfig, TeacherConfig
from synth.dataset.config import DatasetConfig
from synth.eval_config import EvalConfig
from synth.rounds_config import RoundsConfig
from synth.student_config import StudentConfig


def _plain(annotation: Any) -> Any:
    """The type a user writes: without Annotated[...] validators, inside unions too."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, (_plain(a) for a in typing.get_args(annotation)))
    return annotation


def _type(annotation: Any) -> str:
    text = str(_plain(annotation)).replace("typing.", "").replace("NoneType", "None")
    for prefix in (
        "<class '",
        "decimal.",
        "pathlib.",
        "synth.student_config.",
        "synth.eval_config.",
        "synth.config.",
        "synth.rounds_config.",
        "synth.dataset.config.",
    ):
        text = text.replace(prefix, "")
    return text.replace("'>", "").replace(" | ", " or ")


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        return "" if field.default is None else f"`{field.default}`"
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if isinstance(value, BaseModel) else f"`{value}`"
    return "required"


def table(model: type[BaseModel], prefix: str) -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        kind, default = _type(field.annotation), _default(field)
        if name == "filters":  # a discriminated union: named in the README's filters section
            kind = "list of filters"
            default = ", ".join(f.name for f in field.get_default(call_default_factory=True))
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {desc} |")
    return "\n".join(rows)


SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("Top level", RunConfig, ""),
    ("teacher", TeacherConfig, "teacher."),
    ("teacher.price", PriceConfig, "teacher.price."),
    ("dataset", DatasetConfig, "dataset."),
    ("student", StudentConfig, "student."),
    ("eval", EvalConfig, "eval."),
    ("rounds", RoundsConfig, "rounds."),
]


def nested(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in model.model_fields.items():
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            if (
                isinstance(arg, type)
                and issubclass(arg, BaseModel)
                and arg not in {m for _, m, _ in SECTIONS}
            ):
                out.append((name, arg))
    return out


def render() -> str:
    parts = [
        "# Config reference",
        "",
        "Generated from the pydantic models (`python -m synth.cli.config_reference`). Every section",
        "rejects unknown keys, so a misspelt key is an error naming it. Relative paths are",
        "relative to the config file. The `filters:` list is described in",
        "[the README](../README.md#filters).",
    ]
    for title, model, prefix in SECTIONS:
        parts += ["", f"## {title}", "", table(model, prefix)]
        for name, sub in nested(model):
            parts += ["", f"### {prefix}{name}", "", table(sub, f"{prefix}{name}.")]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
