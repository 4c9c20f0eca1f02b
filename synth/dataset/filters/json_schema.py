"""`json_schema`: a structured answer must parse as JSON and validate against the template's
schema; the parsed object is kept (its canonical JSON is the assistant turn). The answer is
read by synth.answers, as the eval reads the student's.

    '```json\\n{"priority": "high"}\\n```'   → {"priority": "high"}   (a fence is tolerated)
    '{"priority": "high"'                     → Reject("invalid_json", "Expecting ',' ...")
    '{"priority": "urgent"}'                  → Reject("schema", "'urgent' is not one of [...]")
"""

from __future__ import annotations

from typing import Any

import jsonschema

from synth.answers import parse_json
from synth.dataset.config import JsonSchemaFilter
from synth.dataset.filters.base import Candidate, Filter, Reject, canonical_json


class JsonSchema(Filter):
    name = "json_schema"

    def __init__(self, spec: JsonSchemaFilter, schema: dict[str, Any]) -> None:
        self.validator = jsonschema.validators.validator_for(schema)(schema)
        self._best_match = jsonschema.exceptions.best_match

    def check(self, c: Candidate) -> Reject | None:
        try:
            value = parse_json(c.answer)
        except ValueError as e:
            return Reject("invalid_json", str(e)[:200])
        error = self._best_match(self.validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            return Reject("schema", (f"{where}: " if where else "") + error.message[:200])
        c.parsed_json = canonical_json(value)
        return None
