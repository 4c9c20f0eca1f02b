"""`json_schema`: a structured answer must parse as JSON and validate against the template's
schema; the parsed object is kept (its canonical JSON is the assistant turn).

    '```json\\n{"priority": "high"}\\n```'   → {"priority": "high"}   (a fence is tolerated)
    '{"priority": "high"'                     → Reject("invalid_json", "Expecting ',' ...")
    '{"priority": "urgent"}'                  → Reject("schema", "'urgent' is not one of [...]")
"""

from __future__ import annotations

import json
import re
from typing import Any

from synth.dataset.config import JsonSchemaFilter
from synth.dataset.filters.base import Candidate, Filter, Reject, canonical_json

_FENCED = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)


def parse_json_answer(text: str) -> Any:
    """The JSON value in an answer, fenced or not; raises ValueError."""
    text = text.strip()
    if text.startswith("```") or not text.startswith(("{", "[")):
        m = _FENCED.search(text)
        if m:
            text = m.group(1).strip()
    return json.loads(text)


class JsonSchema(Filter):
    name = "json_schema"

    def __init__(self, spec: JsonSchemaFilter, schema: dict[str, Any]) -> None:
        import jsonschema

        self.validator = jsonschema.validators.validator_for(schema)(schema)
        self._best_match = jsonschema.exceptions.best_match

    def check(self, c: Candidate) -> Reject | None:
        try:
            value = parse_json_answer(c.answer)
        except ValueError as e:
            return Reject("invalid_json", str(e)[:200])
        error = self._best_match(self.validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            return Reject("schema", (f"{where}: " if where else "") + error.message[:200])
        c.parsed_json = canonical_json(value)
        return None
