"""The `filters:` and `dataset:` sections of the run config (see synth.dataset.filters, synth.dataset.builder).

No heavy imports here: `distill harvest` imports this module through synth.config.

A `filters:` list names each filter by `name:` and gives its parameters; filters run in the
order written. A bare name is shorthand for the filter with its defaults:

    filters:
      - finish                                  # same as {name: finish}
      - {name: refusal, phrases: ["I'm sorry", "As an AI"]}
      - labels                                  # templates with output.labels
      - {name: length, min_chars: 1, max_tokens: 200}
      - {name: agreement, min_votes: 2}         # teacher.samples_per_input > 1
      - {name: dedup, near_threshold: 0.85}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FinishFilter(_Filter):
    """Drop answers that did not end normally: truncated at max_tokens, or content-filtered."""

    name: Literal["finish"] = "finish"
    reject: list[str] = Field(
        default_factory=lambda: ["length", "max_tokens", "content_filter"],
        description="finish reasons that reject the answer (as the journal records them)",
    )


DEFAULT_REFUSAL_PHRASES = [
    "I'm sorry",
    "I am sorry",
    "I apologize",
    "I can't help",
    "I cannot help",
    "I can't assist",
    "I cannot assist",
    "I can't provide",
    "I cannot provide",
    "I'm unable to",
    "I am unable to",
    "I won't be able",
    "As an AI",
]


class RefusalFilter(_Filter):
    """Drop refusals: the provider's refusal field (or finish reason), plus refusal phrases."""

    name: Literal["refusal"] = "refusal"
    phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFUSAL_PHRASES),
        description="case-insensitive phrases that mark a refusal",
    )
    where: Literal["start", "anywhere"] = Field(
        default="start",
        description="match the phrases at the start of the answer only (default: an answer may "
        "legitimately say 'I'm sorry' further on), or anywhere in it",
    )


class LabelsFilter(_Filter):
    """Classification: normalise the answer (case, whitespace, punctuation, a 'Category: x'
    wrapper, quotes, a code fence) to exactly one of the template's labels, else reject."""

    name: Literal["labels"] = "labels"
    lenient: bool = Field(
        default=False,
        description="also accept an answer that mentions exactly one label as a whole word "
        "('The category is billing.')",
    )


class JsonSchemaFilter(_Filter):
    """Structured output: parse the answer as JSON (a fenced code block is tolerated) and
    validate it against the template's `output.json_schema`, else reject."""

    name: Literal["json_schema"] = "json_schema"


class LengthFilter(_Filter):
    """Bounds on the answer: characters (after stripping) and output tokens (as the teacher
    billed them). Unset bounds do not apply."""

    name: Literal["length"] = "length"
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LengthFilter:
        for lo, hi in (("min_chars", "max_chars"), ("min_tokens", "max_tokens")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} ({a}) is greater than {hi} ({b})")
        return self


class DedupFilter(_Filter):
    """Drop exact duplicates of (input, answer) after normalisation, and inputs that are near
    duplicates (MinHash over character 5-grams) of an input already kept, so that paraphrases
    do not flood the data. Samples of one input are not near duplicates of each other."""

    name: Literal["dedup"] = "dedup"
    exact: bool = Field(default=True, description="drop exact duplicates of (input, answer)")
    near_threshold: float | None = Field(
        default=0.85,
        gt=0,
        le=1,
        description="estimated Jaccard similarity of inputs; null turns it off",
    )
    num_perm: int = Field(
        default=64, ge=16, le=512, description="MinHash permutations (accuracy vs memory)"
    )


class AgreementFilter(_Filter):
    """Self-consistency voting when teacher.samples_per_input > 1: among the answers of one
    input that survived the filters before it, keep the majority answer (after normalisation)
    when at least `min_votes` agree; one row per input. Put it before `dedup`."""

    name: Literal["agreement"] = "agreement"
    min_votes: int = Field(
        default=2, ge=1, description="samples that must give the majority answer"
    )


FILTER_TYPES: dict[str, type[_Filter]] = {
    t.model_fields["name"].default: t
    for t in (
        FinishFilter,
        RefusalFilter,
        LabelsFilter,
        JsonSchemaFilter,
        LengthFilter,
        DedupFilter,
        AgreementFilter,
    )
}


def _named(value: Any) -> Any:
    """A bare name is shorthand for the filter's defaults; an unknown name is one clear line."""
    if isinstance(value, str):
        value = {"name": value}
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"a filter is a name or a mapping with a name, e.g. {{name: finish}}; got {value!r}"
        )
    name = value.get("name")
    if name not in FILTER_TYPES:
        what = f"unknown filter {name!r}" if name is not None else "a filter needs a name"
        raise ValueError(f"{what}: use one of {', '.join(FILTER_TYPES)}")
    return value


FilterSpec = Annotated[
    FinishFilter
    | RefusalFilter
    | LabelsFilter
    | JsonSchemaFilter
    | LengthFilter
    | DedupFilter
    | AgreementFilter,
    Field(discriminator="name"),
    BeforeValidator(_named),
]


def default_filters() -> list[Any]:
    """The filters used when a config has no `filters:` section.

    The build drops those that do not apply to the run: `labels` when the template has no
    labels, `json_schema` when it has no schema, `agreement` when the teacher gave one sample
    per input. Written explicitly in a config, such a filter is an error instead.
    """
    return [
        FinishFilter(),
        RefusalFilter(),
        LabelsFilter(),
        JsonSchemaFilter(),
        LengthFilter(min_chars=1),
        AgreementFilter(),
        DedupFilter(),
    ]


class DatasetConfig(BaseModel):
    """How the kept answers become a `DatasetDict` (train / validation / test)."""

    model_config = ConfigDict(extra="forbid")

    validation: float = Field(
        default=0.1, ge=0, lt=1, description="fraction of rows in the validation split"
    )
    test: float = Field(default=0.1, ge=0, lt=1, description="fraction of rows in the test split")
    seed: int = Field(default=0, description="same seed and same journal: same split")
    stratify: bool = Field(
        default=True, description="stratify by label when the template has labels"
    )
    group_threshold: float | None = Field(
        default=0.7,
        gt=0,
        le=1,
        description="inputs at least this similar (estimated Jaccard of character 5-grams) share "
        "a split, so no paraphrase crosses from train to test; null groups identical inputs only",
    )
    num_perm: int = Field(
        default=64, ge=16, le=512, description="MinHash permutations for the grouping"
    )
    export_jsonl: bool = Field(default=True, description="also write <run>/dataset/<split>.jsonl")
    system_prompt: bool = Field(
        default=True,
        description="keep the template's system message (and few-shot examples) in `messages`",
    )
    teacher_dist_min_mass: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="classification with logprobs: the least top-K probability on labels for a "
        "row to get a soft label (teacher_dist); below it the row keeps its hard label only",
    )

    @model_validator(mode="after")
    def _fractions(self) -> DatasetConfig:
        if self.validation + self.test >= 1:
            raise ValueError(
                f"validation + test is {self.validation + self.test:g}: leave some rows for train"
            )
        return self
