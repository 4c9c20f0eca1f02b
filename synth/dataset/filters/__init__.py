"""The build's filters, one module each behind `synth.dataset.filters.base.Filter`.

`make_filters(cfg, template)` turns the config's `filters:` list into filter objects, checking
them against the template and the teacher settings: a filter that cannot apply is one clear
line (ConfigError) when the config names it, and is left out when it came from the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.config import RunConfig
from synth.dataset.config import (
    AgreementFilter,
    DedupFilter,
    FinishFilter,
    JsonSchemaFilter,
    LabelsFilter,
    LengthFilter,
    RefusalFilter,
)
from synth.dataset.filters.agreement import Agreement
from synth.dataset.filters.base import Candidate, Filter, Reject
from synth.dataset.filters.dedup import Dedup
from synth.dataset.filters.finish import Finish
from synth.dataset.filters.json_schema import JsonSchema
from synth.dataset.filters.labels import Labels
from synth.dataset.filters.length import Length
from synth.dataset.filters.refusal import Refusal
from synth.errors import ConfigError
from synth.templates import Template


def _problem(spec: Any, cfg: RunConfig, template: Template, seen: set[str]) -> str | None:
    """Why this filter cannot apply to this run, or None."""
    if isinstance(spec, LabelsFilter) and not template.labels:
        return (
            f"the template '{template.name}' has no output.labels: remove the labels filter "
            "or add labels"
        )
    if isinstance(spec, JsonSchemaFilter) and not template.json_schema:
        return (
            f"the template '{template.name}' has no output.json_schema: remove the json_schema "
            "filter or add a schema"
        )
    if isinstance(spec, AgreementFilter):
        n = cfg.teacher.samples_per_input
        if n < 2 or spec.min_votes > n:
            return (
                f"min_votes is {spec.min_votes} but teacher.samples_per_input is {n}: ask for more "
                "samples per input, or remove the agreement filter"
            )
        if "dedup" in seen:
            return (
                "put agreement before dedup (dedup would drop the agreeing samples before the vote)"
            )
    return None


def make_filters(cfg: RunConfig, template: Template, scratch: Path | None = None) -> list[Filter]:
    """The config's filters, in order; `scratch` is a folder for what they keep on disk."""
    explicit = "filters" in cfg.model_fields_set
    where = cfg.config_path.name if cfg.config_path else "config"
    out: list[Filter] = []
    seen: set[str] = set()
    for i, spec in enumerate(cfg.filters):
        problem = _problem(spec, cfg, template, seen)
        if problem:
            if explicit:
                raise ConfigError(f"{where}: filters[{i}] ({spec.name}): {problem}")
            continue
        seen.add(spec.name)
        out.append(_make(spec, template, scratch / f"filter-{i}" if scratch else None))
    return out


def _make(spec: Any, template: Template, scratch: Path | None) -> Filter:
    match spec:
        case FinishFilter():
            return Finish(spec)
        case RefusalFilter():
            return Refusal(spec)
        case LabelsFilter():
            return Labels(spec, template.labels or [])
        case JsonSchemaFilter():
            return JsonSchema(spec, template.json_schema or {})
        case LengthFilter():
            return Length(spec)
        case DedupFilter():
            return Dedup(spec, template.fields, scratch)
        case AgreementFilter():
            return Agreement(spec)
    raise TypeError(f"no filter for {spec!r}")


__all__ = ["Candidate", "Filter", "Reject", "make_filters"]
