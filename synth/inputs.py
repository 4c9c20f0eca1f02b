"""Reading the inputs file: JSONL, one object per line, streamed and checked line by line.

Every problem names the file and line (and the field, for a record the template cannot
render), so that a bad line is found before the first request is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synth.errors import InputError, TemplateError
from synth.templates import Template


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line; InputError on the first bad one."""
    try:
        f = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: inputs file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read inputs: {e.strerror}") from None
    with f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):  # noqa: B007 (lineno used in the except)
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(
                        f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})"
                    ) from None
                if not isinstance(record, dict):
                    raise InputError(
                        f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}"
                    )
                yield lineno, record
        except UnicodeDecodeError:
            raise InputError(f"{path}:{lineno + 1}: not valid UTF-8") from None


def render_records(
    path: Path, template: Template
) -> Iterator[tuple[int, dict[str, Any], list[dict[str, str]]]]:
    """(line, record, messages) for every record; names the line and field that fails."""
    fields = template.fields
    for lineno, record in iter_records(path):
        for field in fields:
            if field not in record:
                raise InputError(
                    f"{path}:{lineno}: record has no field '{field}' (template {template.name} uses it)"
                )
        try:
            messages = template.render(record)
        except TemplateError as e:
            raise InputError(f"{path}:{lineno}: {e}") from None
        yield lineno, record, messages
