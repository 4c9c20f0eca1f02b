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


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded one line at a time so that a byte that is
    not UTF-8 is reported on its own line (a chunked decoder reports the chunk's)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: inputs file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an inputs file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read inputs: {e.strerror}") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                    f"{e.start + 1}); save the file as UTF-8"
                ) from None


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line; InputError on the first bad one, and on
    a file with no record at all (a harvest of nothing is a mistake, not a success)."""
    seen = False
    for lineno, line in _lines(path):
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
        seen = True
        yield lineno, record
    if not seen:
        raise InputError(f"{path}: no inputs: the file is empty (one JSON object per line)")


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
