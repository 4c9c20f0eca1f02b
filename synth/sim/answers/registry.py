"""What the simulated teacher says: a pluggable answer function, resolved by name.

An answer function is `answer(req: SimRequest, rng: random.Random) -> str`. It sees the request
as plain text whichever API it came through; `rng` is seeded from the sim's seed, the request
body and (above temperature 0) how many times that body was answered before, so an answer
function that uses it varies between samples yet replays exactly. Returning `Refusal(text)`
makes the teacher refuse (OpenAI `message.refusal`, Anthropic `stop_reason: refusal`);
returning `Believed(text, {alternative: p})` gives its answer token meaningful log-probabilities.

    >>> req = SimRequest("openai", "m", None, [{"role": "user", "content": "Hi there"}], {}, None)
    >>> echo(req, random.Random(0))
    'You said: Hi there'

Names: `echo` (built in), `tickets` and `extract` (the example tasks, imported when first
used), or any `package.module:function`.
"""

from __future__ import annotations

import importlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synth.errors import ConfigError


@dataclass
class SimRequest:
    api: str  # "openai" | "anthropic"
    model: str
    system: str | None  # system prompt(s) as plain text
    messages: list[dict[str, str]]  # [{"role", "content"}] without the system prompt
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, stop, ...
    json_schema: dict[str, Any] | None = None  # set when structured output was requested

    @property
    def last_user(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


class Refusal(str):
    """Return this from an answer function to refuse; its text is the refusal message."""


class Believed(str):
    """An answer with the teacher's belief: {alternative: probability} for the token where its
    choice is written (e.g. each label of a classification). The OpenAI API turns it into that
    token's top-K log-probabilities, so they carry the same scores that chose the answer."""

    belief: dict[str, float]

    def __new__(cls, text: str, belief: dict[str, float]) -> Believed:
        out = super().__new__(cls, text)
        out.belief = belief
        return out


AnswerFn = Callable[[SimRequest, random.Random], str]

_WORD = re.compile(r"\w+")
ECHO_WORDS = 16


def echo(req: SimRequest, rng: random.Random) -> str:
    """A short answer from the last user message; with a schema, a JSON object that fits it."""
    text = req.last_user
    words = text.split()
    said = "You said: " + " ".join(words[:ECHO_WORDS]) + (" ..." if len(words) > ECHO_WORDS else "")
    schema = req.json_schema
    if schema is None:
        return said
    if schema.get("type") == "object" and not schema.get("properties"):
        return json.dumps({"answer": said})  # JSON mode without a schema
    return json.dumps(example_for_schema(schema, _WORD.findall(text)))


def example_for_schema(schema: dict[str, Any], words: list[str]) -> Any:
    """A plausible value satisfying `schema` (types, enums, consts, required, bounds, $refs)."""
    return _Example(schema, words).value(schema, "value", 0)


class _Example:
    _FORMATS = {
        "date": "2024-01-01",
        "date-time": "2024-01-01T00:00:00Z",
        "time": "12:00:00",
        "email": "user@example.com",
        "uri": "https://example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }

    def __init__(self, root: dict[str, Any], words: list[str]) -> None:
        self.root = root
        self.words = words or ["example"]
        self.next_word = 0

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            node: Any = self.root
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if part else node
            schema, seen = node, seen + 1
        return schema

    def _word(self) -> str:
        word = self.words[self.next_word % len(self.words)]
        self.next_word += 1
        return word

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return None
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                options = [self._resolve(s) for s in schema[key]]
                typed = [s for s in options if s.get("type") != "null"] or options
                if key == "allOf":
                    merged: dict[str, Any] = {}
                    for part in typed:
                        merged.update(part)
                    return self.value(merged, name, depth)
                return self.value(typed[0], name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if kind == "object":
            if depth > 8:
                return {}
            props = schema.get("properties", {})
            names = list(props) or list(schema.get("required", []))
            return {key: self.value(props.get(key, {}), key, depth + 1) for key in names}
        if kind == "array":
            count = max(1, int(schema.get("minItems", 1)))
            if "maxItems" in schema:
                count = min(count, int(schema["maxItems"]))
            return [self.value(schema.get("items", {}), name, depth + 1) for _ in range(count)]
        if kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
            number = max(1, low + (1 if "exclusiveMinimum" in schema else 0))
            if "maximum" in schema:
                number = min(number, schema["maximum"])
            return int(number) if kind == "integer" else float(number)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        if schema.get("format") in self._FORMATS:
            return self._FORMATS[schema["format"]]
        text = self._word()
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        text = text.ljust(low, "x")
        return text[: int(high)] if high is not None else text


BUILTIN: dict[str, str | AnswerFn] = {
    "echo": echo,
    "tickets": "synth.sim.answers.tickets:answer",
    "extract": "synth.sim.answers.extract:answer",
}


def register(name: str, fn: str | AnswerFn) -> None:
    """Make `name` resolve to an answer function (or a 'module:function' string)."""
    BUILTIN[name] = fn


def resolve(spec: str | AnswerFn) -> AnswerFn:
    """An answer function from a registered name, 'module:function', or the function itself."""
    if callable(spec):
        return spec
    target = BUILTIN.get(spec, spec)
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        names = ", ".join(sorted(BUILTIN))
        raise ConfigError(f"unknown sim answers {spec!r}: use one of {names}, or 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"sim answers {spec!r}: cannot import {module_name} ({exc})") from exc
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise ConfigError(f"sim answers {spec!r}: {module_name} has no function {attr!r}")
    return fn
