"""The student's model card: `<run>/student/README.md`, in place of TRL's placeholder.

Written after `distill train` and again after `distill eval`, from what those stages left: the
training summary, the built dataset, the template, the eval's metrics.json (its figures are
copied, never recomputed) and its cost comparison. The prompt format is the dataset's own: the
student was trained on the rows' messages without the last answer, which is what it expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth.config import RunConfig

TERMS_NOTE = (
    "This model was trained on a teacher model's outputs. The teacher's provider may restrict "
    "using its outputs to train other models (for example OpenAI's and Anthropic's terms "
    "restrict developing competing models): check those terms before you publish or serve it."
)


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def split_sizes(dataset_dir: Path) -> dict[str, int]:
    """Rows per split of the built dataset (memory-mapped: nothing is read but the counts)."""
    if not (dataset_dir / "dataset_dict.json").exists():
        return {}
    from datasets import load_from_disk

    splits = load_from_disk(str(dataset_dir))
    return {name: len(split) for name, split in splits.items()}


def _example_row(dataset_dir: Path) -> list[dict[str, str]] | None:
    if not (dataset_dir / "dataset_dict.json").exists():
        return None
    from datasets import load_from_disk

    splits = load_from_disk(str(dataset_dir))
    split = splits["test"] if "test" in splits and len(splits["test"]) else splits["train"]
    return list(split[0]["messages"]) if len(split) else None


def _fence(text: str, lang: str = "") -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def usd(v: float | None) -> str:
    return "–" if v is None else f"${v:.4f}"


def fmt_metric(v: Any) -> str:
    """A metric as the card prints it: floats to 4 decimals, the rest as they are."""
    if isinstance(v, float):
        return f"{v:.4f}"
    return "–" if v is None else str(v)


def _load_snippet(kind: str, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    prompt = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    if kind == "adapter":
        load = (
            "from peft import AutoPeftModelForCausalLM\n"
            "from transformers import AutoTokenizer\n\n"
            'path = "."  # this folder: the LoRA adapter (its base model is named in adapter_config.json)\n'
            "model = AutoPeftModelForCausalLM.from_pretrained(path).merge_and_unload()\n"
        )
    else:
        where = "./merged" if kind == "merged" else "."
        load = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'path = "{where}"  # relative to this folder\n'
            "model = AutoModelForCausalLM.from_pretrained(path)\n"
        )
    shown = json.dumps(prompt, ensure_ascii=False, indent=4)
    return (
        load
        + "tok = AutoTokenizer.from_pretrained(path)\n\n"
        + "# the same messages as in training, with your input in place of this example's\n"
        + f"messages = {shown}\n"
        + "enc = tok.apply_chat_template(\n"
        + "    messages, add_generation_prompt=True, return_tensors='pt', return_dict=True\n"
        + ")\n"
        + f"out = model.generate(**enc, max_new_tokens={max_new_tokens}, do_sample=False)\n"
        + "print(tok.decode(out[0, enc['input_ids'].shape[1]:], skip_special_tokens=True).strip())"
    )


def model_card(cfg: RunConfig) -> str:
    from evals.generate import resolve_student
    from synth.templates import load_template

    template = load_template(cfg.template, cfg.base_dir)
    summary = _read_json(cfg.paths.training_summary) or {}
    metrics = _read_json(cfg.paths.eval_files["metrics"])
    sizes = split_sizes(cfg.paths.dataset)
    example = _example_row(cfg.paths.dataset)
    kind, _ = resolve_student(cfg.paths.student)
    base = summary.get("base_model") or (cfg.student.base_model if cfg.student else None)
    teacher = f"{cfg.teacher.provider}/{cfg.teacher.model}"
    if metrics and metrics.get("teacher_model") and metrics["teacher_model"] != cfg.teacher.model:
        teacher += f" (answers in the eval split: {metrics['teacher_model']})"
    system_kept = cfg.dataset.system_prompt

    parts = [
        "---",
        *([f"base_model: {base}"] if base else []),
        "library_name: peft" if kind == "adapter" else "library_name: transformers",
        "tags: [distillation, distill]",
        "---",
        "",
        f"# {cfg.name}: a student distilled from {cfg.teacher.model}",
        "",
        f"{template.description or 'A task'} (template `{template.name}`, task "
        f"{template.task}), learnt from the teacher's answers.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{base}` |" if base else "| base model | – |",
        f"| method | {summary.get('method', '–')}"
        + (" (merged into `merged/`)" if kind == "merged" else "")
        + " |",
        f"| teacher | `{teacher}` |",
        f"| template | `{template.name}` ({template.task}) |",
        "| data | "
        + ", ".join(f"{name}: {n:,} rows" for name, n in sizes.items())
        + (" |" if sizes else "– |"),
    ]
    if summary:
        parts.append(
            f"| training | {summary.get('steps', '–')} steps, {summary.get('epochs', '–')} epochs, "
            f"final train loss {fmt_metric(summary.get('final_train_loss'))} |"
        )
    parts += ["", "## Prompt format", ""]
    if system_kept:
        parts.append(
            "The student was trained on the template's messages as the teacher got them: the "
            "system prompt"
            + (", the few-shot examples" if template.spec.examples else "")
            + " and the user message. Send it the same."
        )
    else:
        parts.append(
            "The student was trained **without the system prompt**"
            + (" and the few-shot examples" if template.spec.examples else "")
            + " (`dataset.system_prompt: false`): it gets the user message alone, rendered "
            "from your input by the template below, and answers the task from that."
        )
    parts += ["", "The user message, the template's `user` (Jinja, over each input record):", ""]
    parts += [_fence(template.spec.user.strip(), "jinja"), ""]
    if system_kept and template.spec.system:
        parts += ["The system message:", "", _fence(template.spec.system.strip()), ""]
    if template.labels:
        parts.append(
            "The answer is one label, exactly as written: " + ", ".join(template.labels) + "."
        )
    elif template.json_schema is not None:
        parts.append("The answer is one JSON object (canonical form) valid against the schema:")
        parts += ["", _fence(json.dumps(template.json_schema, indent=2), "json")]
    else:
        parts.append("The answer is free text, in the teacher's style.")
    if example:
        parts += [
            "",
            "One training row (the messages the model sees, then the answer it learnt):",
            "",
            _fence(json.dumps(example, ensure_ascii=False, indent=2), "json"),
        ]

    if metrics:
        parts += [
            "",
            f"## Eval: student vs teacher ({metrics['split']} split, {metrics['items']:,} items)",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        parts += [f"| {k} | {fmt_metric(v)} |" for k, v in metrics["metrics"]["summary"].items()]
        gap = metrics.get("gap") or {}
        if gap.get("fraction") is not None:
            parts += [
                "",
                f"Distillation gap: the student reaches {fmt_metric(gap['fraction'])} of the "
                f"teacher's {gap['metric']} ({gap['basis']} basis).",
            ]
    else:
        parts += ["", "## Eval", "", "Not evaluated yet: `distill eval CONFIG` adds it here."]

    cost = metrics.get("cost") if metrics else None
    if cost:
        t, o = cost["teacher"], cost["one_off"]
        parts += [
            "",
            "## Cost",
            "",
            "| | |",
            "|---|---|",
            f"| teacher, the harvest | {usd(o['harvest_usd'])} for {t['succeeded']:,} answers |",
            f"| teacher per 1K requests | {usd(t['per_1k_usd'])} |",
            f"| student per 1K requests | {usd(cost['student']['per_1k_usd'])} |",
            f"| distilling in all (one-off) | {usd(o['total_usd'])} |",
            "| break-even | "
            + (
                f"{cost['break_even_requests']:,} requests |"
                if cost["break_even_requests"] is not None
                else "– (see eval/metrics.md) |"
            ),
        ]

    max_new = int((metrics or {}).get("max_new_tokens") or template.params.get("max_tokens") or 64)
    if example:
        parts += [
            "",
            "## How to use it",
            "",
            _fence(_load_snippet(kind, example, max_new), "python"),
        ]
        if template.labels:
            parts += ["", "Read the answer as one of the labels above (the eval does the same)."]
    parts += ["", "## Terms of use", "", TERMS_NOTE, ""]
    return "\n".join(parts)


def write_model_card(cfg: RunConfig) -> Path | None:
    """Write `<run>/student/README.md` (and the same in `merged/` when there is one); None
    when there is no local student (an eval of a served endpoint)."""
    from evals.generate import resolve_student
    from synth.errors import StageError

    try:
        resolve_student(cfg.paths.student)
    except StageError:
        return None
    text = model_card(cfg)
    path = cfg.paths.student / "README.md"
    path.write_text(text, encoding="utf-8")
    if (cfg.paths.merged / "config.json").exists():
        (cfg.paths.merged / "README.md").write_text(
            text.replace('path = "./merged"', 'path = "."'), encoding="utf-8"
        )
    return path
