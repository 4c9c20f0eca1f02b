"""Config, templates and inputs: every user mistake is one line naming the file, line or key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth.config import load_config
from synth.errors import ConfigError, InputError, TemplateError
from synth.inputs import render_records
from synth.templates import load_template

TEMPLATE = """\
description: Classify a ticket
system: You triage tickets for {{ company }}.
user: |
  Ticket: {{ text }}
params: {temperature: 0, max_tokens: 8}
output:
  labels: [billing, shipping]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def config_text(**teacher: object) -> str:
    t = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": "http://127.0.0.1:9/v1",
        **teacher,
    }
    lines = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in t.items())
    return f"name: t1\ninputs: in.jsonl\ntemplate: prompts/t.yaml\nteacher:\n{lines}\n"


def test_config_resolves_relative_paths(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", config_text()))
    assert cfg.inputs == tmp_path / "in.jsonl"
    assert cfg.run_dir == tmp_path / "runs" / "t1"
    assert cfg.teacher.key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    "text, expected",
    [
        (config_text(concurrncy=4), "teacher.concurrncy: unknown key"),
        (
            config_text(concurrency=0),
            "teacher.concurrency: Input should be greater than or equal to 1",
        ),
        (config_text(provider="gemini"), "teacher.provider:"),
        (config_text(api_key_env="sk-abc123"), "teacher.api_key_env: must be the NAME"),
        (config_text(price={"input_per_mtok": 1}), "teacher.price: give both"),
        (
            "name: x\ninputs: a\nteacher: {provider: openai, model: m}\n",
            "template: required key is missing",
        ),
        ("name: x\n  bad: [\n", ":2: invalid YAML"),
        ("- a list\n", "a config is a YAML mapping"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert expected in msg and str(path) in msg and "\n" not in msg


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_template_renders_and_lists_fields(tmp_path: Path) -> None:
    t = load_template("t", tmp_path) if write(tmp_path / "prompts" / "t.yaml", TEMPLATE) else None
    assert t is not None and t.fields == ["company", "text"] and t.task == "classification"
    msgs = t.render({"company": "Acme", "text": "where is my parcel"})
    assert msgs == [
        {"role": "system", "content": "You triage tickets for Acme."},
        {"role": "user", "content": "Ticket: where is my parcel"},
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        (TEMPLATE.replace("labels:", "labelz:"), "output.labelz: unknown key"),
        ("user: '{{ text '\n", "Jinja syntax error"),
        ("system: hi\n", "user: required key is missing"),
        (
            "user: x\noutput: {json_schema: {type: object, properties: {a: {type: nope}}}}\n",
            "not a valid JSON Schema",
        ),
    ],
)
def test_template_errors(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path / "prompts" / "bad.yaml", text)
    with pytest.raises(TemplateError, match=expected):
        load_template("bad", tmp_path)


def test_unknown_template_lists_known(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "t.yaml", TEMPLATE)
    with pytest.raises(TemplateError, match=r"no template named 'nope' \(known: .*\bt\b"):
        load_template("nope", tmp_path)


def test_sandbox_refuses_unsafe_jinja(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "evil.yaml", "user: '{{ text.__class__.__mro__ }}'\n")
    t = load_template("evil", tmp_path)
    with pytest.raises(TemplateError):
        t.render({"text": "x"})


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ['{"company": "A", "text": "a"}', '{"company": "A", "text": '],
            "in.jsonl:2: invalid JSON",
        ),
        (
            ['{"company": "A", "text": "a"}', "", '["x"]'],
            "in.jsonl:3: expected a JSON object, got list",
        ),
        (
            ['{"company": "A", "text": "a"}', '{"company": "A"}'],
            "in.jsonl:2: record has no field 'text'",
        ),
    ],
)
def test_inputs_errors_name_line_and_field(tmp_path: Path, lines: list[str], expected: str) -> None:
    t = load_template("t", tmp_path) if write(tmp_path / "prompts" / "t.yaml", TEMPLATE) else None
    path = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=expected):
        list(render_records(path, t))


def test_inputs_nested_missing_field_names_line(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "n.yaml", "user: '{{ customer.name }}'\n")
    t = load_template("n", tmp_path)
    path = write(tmp_path / "in.jsonl", '{"customer": {"name": "a"}}\n{"customer": {}}\n')
    with pytest.raises(InputError, match=r"in.jsonl:2: .*'name'"):
        list(render_records(path, t))


def test_config_reference_is_current() -> None:
    from synth.cli.config_reference import render
    from tests.conftest import REPO

    assert (REPO / "docs" / "config-reference.md").read_text() == render(), (
        "regenerate: python -m synth.cli.config_reference > docs/config-reference.md"
    )
