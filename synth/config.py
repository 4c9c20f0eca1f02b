"""The run config: one YAML file, typed and documented here (pydantic, `extra="forbid"`).

Relative paths are relative to the config file. Sections owned by later stages are declared
in their own modules (`synth.dataset.config`, `synth.student_config`, `synth.eval_config`,
`synth.rounds_config`), all free of
heavy imports so that `distill harvest` starts fast.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from synth.config_base import KeyEnvName, Strict
from synth.dataset.config import DatasetConfig, FilterSpec, default_filters
from synth.errors import ConfigError
from synth.eval_config import EvalConfig
from synth.paths import RunPaths
from synth.rounds_config import RoundsConfig
from synth.student_config import StudentConfig

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class PriceConfig(Strict):
    """Overrides the price table. Per-token prices in USD per million tokens; `per_hour` for
    a self-hosted endpoint billed by GPU time; `free` for endpoints the user does not price."""

    input_per_mtok: Decimal | None = Field(None, ge=0)
    output_per_mtok: Decimal | None = Field(None, ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0, description="default: input price")
    cache_write_per_mtok: Decimal | None = Field(
        None, ge=0, description="prompt-cache writes (5-minute TTL); default: input price x 1.25"
    )
    cache_write_1h_per_mtok: Decimal | None = Field(
        None, ge=0, description="prompt-cache writes (1-hour TTL); default: input price x 2"
    )
    batch_factor: Decimal | None = Field(
        None,
        gt=0,
        le=1,
        description="batch price as a fraction of the online one; default: the table's batch price, else 0.5",
    )
    per_hour: Decimal | None = Field(None, ge=0, description="USD per hour of harvest wall time")
    free: bool = False

    @model_validator(mode="after")
    def _complete(self) -> PriceConfig:
        per_token = self.input_per_mtok is not None or self.output_per_mtok is not None
        if per_token and (self.input_per_mtok is None or self.output_per_mtok is None):
            raise ValueError("give both input_per_mtok and output_per_mtok")
        if not (self.gives_prices or self.batch_factor is not None):
            raise ValueError("give input_per_mtok and output_per_mtok, per_hour, or free: true")
        return self

    @property
    def gives_prices(self) -> bool:
        """False for an override of the batch factor alone: the table keeps the prices."""
        return self.input_per_mtok is not None or self.per_hour is not None or self.free


class TeacherConfig(Strict):
    provider: Literal["openai", "anthropic"] = Field(
        description="openai covers every OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...)"
    )
    model: str
    base_url: str | None = Field(None, description="an OpenAI-compatible server's /v1 URL")
    api_key_env: KeyEnvName | None = Field(
        None,
        description="name of the variable holding the key (default OPENAI_API_KEY / "
        "ANTHROPIC_API_KEY); null written out: the endpoint takes no key",
    )
    concurrency: int = Field(16, ge=1, le=4096, description="requests in flight at most")
    rpm: float | None = Field(None, gt=0, description="requests/minute ceiling")
    tpm: float | None = Field(None, gt=0, description="tokens/minute ceiling (prompt + max_tokens)")
    price: PriceConfig | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens, ...")
    samples_per_input: int = Field(1, ge=1, le=64, description="answers asked per input")
    structured_output: bool = Field(
        True,
        description="ask for the template's json_schema the provider's way; off for servers that lack it",
    )
    logprobs: int | None = Field(
        None, ge=0, le=20, description="top-K log-probabilities per answer token"
    )
    max_attempts: int = Field(6, ge=1, le=50, description="attempts per request before it fails")
    prompt_cache: Literal["auto", "off"] = Field(
        "auto",
        description="auto: mark the shared prefix (system, few-shot examples) cacheable on Anthropic "
        "and keep it first on OpenAI; off: send no cache hints",
    )
    mode: Literal["online", "batch"] = Field(
        "online",
        description="batch: the provider's batch API (OpenAI Batch, Anthropic Message Batches), "
        "about half price, results within 24 h",
    )
    batch_size: int = Field(
        5000, ge=1, le=100_000, description="batch mode: requests per batch at most"
    )
    batch_poll_s: float = Field(
        10.0, gt=0, le=3600, description="batch mode: first wait between polls (grows to 5 min)"
    )
    prompt_cache_ttl: Literal["5m", "1h"] = Field(
        "5m", description="Anthropic cache lifetime: 1h costs 2x input per write instead of 1.25x"
    )
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")

    @property
    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV[self.provider]


class RunConfig(Strict):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run folder: <runs_dir>/<name>/"
    )
    runs_dir: Path = Path("runs")
    inputs: Path | None = Field(
        None,
        description="JSONL (one object per line), CSV, Parquet, or hf:NAME (a Hugging Face "
        "dataset: hub name, local data folder or script, or save_to_disk folder); required "
        "unless rounds: gives a pool",
    )
    input_split: str = Field("train", description="the split of an hf: dataset to harvest")
    input_columns: dict[str, str] = Field(
        default_factory=dict,
        description="template field: column of the inputs, for columns named otherwise",
    )
    template: str = Field(description="a name under prompts/, or a path to a template file")
    teacher: TeacherConfig
    budget_usd: Decimal | None = Field(None, gt=0, description="hard ceiling on the teacher's bill")
    filters: list[FilterSpec] = Field(default_factory=default_filters)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    student: StudentConfig | None = None
    eval: EvalConfig = Field(default_factory=EvalConfig)
    rounds: RoundsConfig | None = Field(
        None, description="active distillation: rounds over an input pool (distill run)"
    )

    # set by load_config, not by the user
    config_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _has_inputs(self) -> RunConfig:
        # with rounds:, the pool is the input; without it, something must be sent
        if self.inputs is None and self.rounds is None:
            raise ValueError(
                "give inputs: (the file the teacher answers) or rounds: (with the pool it draws from)"
            )
        return self

    @property
    def input_file(self) -> Path:
        """`inputs:`, which a config with rounds: may leave out (the pool is its input)."""
        if self.inputs is None:
            raise ConfigError(
                f"{self.config_path}: inputs: none to send; with rounds:, distill run draws "
                "each round's inputs from rounds.pool"
            )
        return self.inputs

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.name

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.run_dir)

    @property
    def journal_path(self) -> Path:
        return self.paths.journal


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# What axolotl, TRL and transformers users type, and the key it is here.
KNOWN_SPELLINGS = {
    "lora_r": "student.lora.r",
    "lora_alpha": "student.lora.alpha",
    "lora_dropout": "student.lora.dropout",
    "lora_target_modules": "student.lora.target_modules",
    "micro_batch_size": "student.batch_size",
    "per_device_train_batch_size": "student.batch_size",
    "gradient_accumulation_steps": "student.grad_accum",
    "num_epochs": "student.epochs",
    "num_train_epochs": "student.epochs",
    "sequence_len": "student.max_length",
    "max_seq_length": "student.max_length",
    "lr_scheduler_type": "student.lr_scheduler",
    "warmup_ratio": "student.warmup_ratio",
    "base_model": "student.base_model",
    "model_name_or_path": "student.base_model",
    "bf16": "student.precision",
    "fp16": "student.precision",
    "merge_lora": "student.merge",
    "sample_packing": "student.packing",
}


def _did_you_mean(loc: tuple[Any, ...], model: type[BaseModel] | None) -> str:
    """' (did you mean `student.grad_accum`?)' for a key another tool spells so, or a key of
    the same section it is one typo away from; '' when nothing is close."""
    key = str(loc[-1]) if loc else ""
    if key in KNOWN_SPELLINGS:
        return f" (did you mean `{KNOWN_SPELLINGS[key]}`?)"
    node: Any = model
    for part in loc[:-1]:  # walk to the section the key sits in
        field = getattr(node, "model_fields", {}).get(part) if node else None
        node = _model_of(field.annotation) if field is not None else None
    names = list(getattr(node, "model_fields", {}))
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    if close:
        return f" (did you mean `{_loc((*loc[:-1], close[0]))}`?)"
    return ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X | None`, if any."""
    for t in (annotation, *typing.get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _clean_loc(e: Any) -> tuple[Any, ...]:
    return tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def format_validation_error(
    source: str, err: ValidationError, model: type[BaseModel] | None = None, pick: int = 0
) -> str:
    """One problem (the first, or the `pick`th), on one line:
    `config.yaml: teacher.concurrncy: unknown key`."""
    e = err.errors()[pick]
    loc_parts = _clean_loc(e)
    loc = _loc(loc_parts)
    if e["type"] == "extra_forbidden":
        hint = _did_you_mean(loc_parts, model)
        msg = f"unknown key{hint or ' (check its spelling)'}"
    elif e["type"] == "missing":
        msg = "required key is missing"
    else:
        msg = e["msg"].removeprefix("Value error, ")
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {loc or '(top level)'}: {msg}{tail}"


def load_yaml(path: Path, what: str = "config") -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None


def parse_set(text: str) -> tuple[str, Any]:
    """`--set student.lora.r=8` → ("student.lora.r", 8): the value is read as YAML, so `8`,
    `true`, `null`, `2.0e-4` and `[finish, labels]` are what they would be in the file."""
    dotted, eq, raw = text.partition("=")
    dotted = dotted.strip()
    if not eq or not dotted or any(not part for part in dotted.split(".")):
        raise ConfigError(f"--set {text}: write KEY.PATH=VALUE, e.g. --set student.epochs=1")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"--set {text}: the value is not valid YAML: {problem}") from None
    return dotted, value


def _apply(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set data[a][b][c] = value for "a.b.c", making the sections on the way."""
    node = data
    *parents, last = dotted.split(".")
    for i, p in enumerate(parents):
        if node.get(p) is None:
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            section = ".".join(parents[: i + 1])
            raise ConfigError(f"{source}: {section} is a value, not a section with keys")
    node[last] = value


def load_config(
    path: str | os.PathLike[str],
    overrides: dict[str, Any] | None = None,
    sets: Sequence[str] = (),
) -> RunConfig:
    """Read, validate and resolve a run config; every problem is a one-line ConfigError.

    `sets` are the command line's `--set KEY.PATH=VALUE` overrides (applied before
    `overrides`, the verbs' own flags); a problem with one is named by its `--set`."""
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config is a YAML mapping of keys (name, inputs, template, teacher, ...)"
        )
    given: dict[str, str] = {}  # dotted key → the --set that gave it
    for text in sets:
        dotted, value = parse_set(text)
        _apply(data, dotted, value, f"--set {text}")
        given[dotted] = text
    for dotted, value in (overrides or {}).items():
        _apply(data, dotted, value, str(path))
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as e:
        source, pick = _blame(path, e, given)
        raise ConfigError(format_validation_error(source, e, RunConfig, pick)) from None
    base = path.resolve().parent
    cfg.config_path = path.resolve()
    cfg.runs_dir = (base / cfg.runs_dir).resolve()
    if cfg.inputs is not None:
        cfg.inputs = _resolve_inputs(base, cfg.inputs)
    if cfg.rounds is not None:
        cfg.rounds.pool = (base / cfg.rounds.pool).resolve()
    return cfg


def _blame(path: Path, err: ValidationError, given: dict[str, str]) -> tuple[str, int]:
    """The problem to report and where it came from: the first one under a key a `--set`
    wrote (that is what the user just typed), named by that `--set`; else the file's first."""
    for i, e in enumerate(err.errors()):
        loc = _loc(_clean_loc(e))
        for dotted, text in given.items():
            if loc == dotted or loc.startswith((dotted + ".", dotted + "[")):
                return f"--set {text}", i
    return str(path), 0


def _resolve_inputs(base: Path, inputs: Path) -> Path:
    """A file relative to the config's folder; `hf:NAME` stays a dataset name unless NAME is a
    folder or script beside the config."""
    text = str(inputs)
    if not text.startswith("hf:"):
        return (base / inputs).resolve()
    local = base / text[3:]
    return Path("hf:" + str(local.resolve())) if local.exists() else inputs
