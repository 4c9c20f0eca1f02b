"""Prompt templates: one YAML file each, found by name under prompts/ or by path.

    description: Classify a support ticket
    system: You are a support triage assistant.
    user: |
      Ticket: {{ text }}
    examples:                                 # optional few-shot pairs, sent before the input
      - {user: "Ticket: I was charged twice", assistant: billing}
    params: {temperature: 0, max_tokens: 16}
    output:
      labels: [billing, shipping, refund]     # or json_schema: {...}

`system` and `user` are Jinja templates over an input record's fields, rendered in a sandbox
with StrictUndefined: a missing field is an error, never an empty string. `examples` are plain
text, the same in every request: with the system prompt they make the shared prefix that the
providers' prompt caches bill at a fraction of the input price.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth.config import format_validation_error, load_yaml
from synth.errors import ConfigError, TemplateError
from synth.resources import PROMPTS

BUNDLED_PROMPTS = PROMPTS  # the checkout's prompts/, or the installed package's copy
SUFFIXES = (".yaml", ".yml")

_ENV = jinja2.sandbox.SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


class TemplateOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[str] | None = Field(
        default=None, min_length=2, description="classification: the allowed answers"
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="structured output: a JSON Schema object"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> TemplateOutput:
        if self.labels is not None and self.json_schema is not None:
            raise ValueError("give labels or json_schema, not both")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.json_schema is not None and self.json_schema.get("type") != "object":
            raise ValueError('json_schema must describe an object (type: "object")')
        return self


class FewShot(BaseModel):
    """One worked example: a user turn and the answer the teacher should give to it."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1)
    assistant: str = Field(min_length=1)


class TemplateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    system: str | None = None
    examples: list[FewShot] = Field(
        default_factory=list, description="few-shot user/assistant pairs sent before the input"
    )
    user: str
    params: dict[str, Any] = Field(default_factory=dict)
    output: TemplateOutput = Field(default_factory=TemplateOutput)


class Template:
    """A loaded, compiled template."""

    def __init__(self, name: str, path: Path, spec: TemplateSpec) -> None:
        self.name = name
        self.path = path
        self.spec = spec
        try:
            self._system = _ENV.from_string(spec.system) if spec.system else None
            self._user = _ENV.from_string(spec.user)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(
                f"{path}: Jinja syntax error in template (line {e.lineno}): {e.message}"
            ) from None

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.spec.params)

    @property
    def labels(self) -> list[str] | None:
        return self.spec.output.labels

    @property
    def json_schema(self) -> dict[str, Any] | None:
        return self.spec.output.json_schema

    @property
    def task(self) -> str:
        return "classification" if self.labels else "structured" if self.json_schema else "text"

    @cached_property
    def fields(self) -> list[str]:
        """Top-level record fields the template reads (what every input line must have)."""
        names: set[str] = set()
        for src in (self.spec.system, self.spec.user):
            if src:
                names |= jinja2.meta.find_undeclared_variables(_ENV.parse(src))
        return sorted(names)

    def render(self, record: dict[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one input record."""
        try:
            messages = []
            if self._system is not None:
                messages.append({"role": "system", "content": self._system.render(record).strip()})
            for ex in self.spec.examples:
                messages.append({"role": "user", "content": ex.user.strip()})
                messages.append({"role": "assistant", "content": ex.assistant.strip()})
            messages.append({"role": "user", "content": self._user.render(record).strip()})
        except jinja2.UndefinedError as e:
            raise TemplateError(f"template {self.name}: {e.message}") from None
        except jinja2.exceptions.SecurityError as e:
            raise TemplateError(f"template {self.name}: unsafe operation refused: {e}") from None
        except (ArithmeticError, TypeError, ValueError, LookupError, MemoryError) as e:
            # {{ 1/0 }}, {{ text + 1 }}, a range too big: the input line is added by the caller
            raise TemplateError(
                f"template {self.name}: {type(e).__name__} while rendering: {e}"
            ) from None
        return messages


def template_dirs(base_dir: Path | None = None) -> list[Path]:
    """Where names are looked up: <config dir>/prompts, ./prompts, then the bundled prompts/."""
    dirs: list[Path] = []
    for d in (
        (base_dir / "prompts") if base_dir else None,
        Path.cwd() / "prompts",
        BUNDLED_PROMPTS,
    ):
        if d is not None and d.is_dir() and d.resolve() not in [x.resolve() for x in dirs]:
            dirs.append(d)
    return dirs


def find_template(name_or_path: str, base_dir: Path | None = None) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in SUFFIXES or "/" in name_or_path or "\\" in name_or_path:
        path = candidate if candidate.is_absolute() else (base_dir or Path.cwd()) / candidate
        if path.is_file():
            return path
        raise TemplateError(f"{path}: template file not found")
    for d in template_dirs(base_dir):
        for suffix in SUFFIXES:
            if (d / f"{name_or_path}{suffix}").is_file():
                return d / f"{name_or_path}{suffix}"
    known = ", ".join(sorted(n for n, _ in iter_templates(base_dir))) or "none"
    raise TemplateError(
        f"no template named '{name_or_path}' (known: {known}); or give a path to a .yaml file"
    )


def load_template(name_or_path: str, base_dir: Path | None = None) -> Template:
    path = find_template(name_or_path, base_dir)
    try:
        data = load_yaml(path, "template")
    except ConfigError as e:
        raise TemplateError(str(e)) from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: a template is a YAML mapping with at least a 'user' key")
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as e:
        raise TemplateError(format_validation_error(str(path), e)) from None
    if spec.output.json_schema is not None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(spec.output.json_schema).check_schema(
                spec.output.json_schema
            )
        except jsonschema.SchemaError as e:
            raise TemplateError(
                f"{path}: output.json_schema is not a valid JSON Schema: {e.message}"
            ) from None
    return Template(path.stem, path, spec)


def iter_templates(base_dir: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(name, path) of every template found by name, first one of each name wins."""
    seen: set[str] = set()
    for d in template_dirs(base_dir):
        for path in sorted(d.iterdir()):
            if path.suffix in SUFFIXES and path.stem not in seen:
                seen.add(path.stem)
                yield path.stem, path
