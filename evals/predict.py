"""`distill predict`: the trained student on new inputs, prompted as it was trained and read as
the eval reads it.

The prompt is the template rendered over each record, without the system prompt and few-shot
examples when the dataset dropped them (`dataset.system_prompt: false`), as the build wrote
the training rows. Generation is the eval's own (evals.generate, or the served endpoint of
`eval.student_endpoint`); a label is read with synth.answers.read_label, JSON with read_json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.answers import read_json, read_label
from synth.config import RunConfig
from synth.errors import InputError
from synth.inputs import render_records
from synth.templates import Template, load_template


@dataclass
class Prediction:
    line: int
    input: dict[str, Any]
    text: str  # what the student generated
    answer: Any  # the label, the parsed JSON object, or the text; None when unreadable
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "input": self.input,
            "answer": self.answer,
            "text": self.text,
            "error": self.error,
        }


def records_of(source: str, template: Template) -> list[tuple[int, dict[str, Any], list[Any]]]:
    """(line, record, messages) from a JSONL file, or from one TEXT: a JSON object, or the
    value of the template's only field."""
    path = Path(source)
    if path.suffix == ".jsonl" or path.is_file():
        return list(render_records(path, template))
    text = source.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"--input: not a JSON object: {e.msg} (char {e.pos})") from None
    elif len(template.fields) == 1:
        record = {template.fields[0]: source}
    else:
        raise InputError(
            f"--input: template {template.name} reads {', '.join(template.fields) or 'no field'}: "
            "give a JSON object with those fields, or a JSONL file"
        )
    missing = [f for f in template.fields if f not in record]
    if missing:
        raise InputError(f"--input: no field '{missing[0]}' (template {template.name} uses it)")
    return [(1, record, template.render(record))]


def student_prompt(messages: list[dict[str, str]], keep_system: bool) -> list[dict[str, str]]:
    """The messages the student was trained on, as the build keeps them (synth.dataset.builder)."""
    return messages if keep_system else messages[-1:]


def read_answer(text: str, template: Template) -> tuple[Any, str | None]:
    if template.labels:
        label = read_label(text, template.labels)
        return label, None if label is not None else "not one of the template's labels"
    if template.json_schema is not None:
        return read_json(text)
    return text, None


def predict(cfg: RunConfig, source: str) -> list[Prediction]:
    from evals.run import _answer, _max_new_tokens  # the eval's generation, as it runs it

    template = load_template(cfg.template, cfg.base_dir)
    items = records_of(source, template)
    if not items:
        raise InputError(f"{source}: no input records")
    prompts = [student_prompt(messages, cfg.dataset.system_prompt) for _, _, messages in items]
    gen = _answer(cfg, prompts, _max_new_tokens(cfg, template), None)
    out = []
    for (line, record, _), g in zip(items, gen.generations, strict=True):
        answer, problem = read_answer(g.text, template)
        out.append(Prediction(line, record, g.text, answer, g.error or problem))
    return out
