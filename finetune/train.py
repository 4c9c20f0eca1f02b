"""`distill train CONFIG`: the built dataset → a student under `<run>/student/`.

TRL's `SFTTrainer` does the training (no loop of our own) with an `SFTConfig` built from the
`student:` section and, unless `full_finetune`, a PEFT `LoraConfig`. What this module adds:

- the base model (`finetune.base_model`): a Hugging Face name, a local folder, or a tiny one;
- loss on the assistant's tokens only (see `finetune.chat_template`);
- precision and kernels chosen for the hardware, clear one-line errors for what cannot run;
- checkpoints in `<run>/student/checkpoints/` (`finetune.checkpoints`): running the same
  command again resumes from the last one; the best one by validation loss is saved at the end;
- `training_summary.json` (steps, tokens, tokens/s, losses and the loss curve, train and
  validation, wall time, hardware), and the
  merged model in `<run>/student/merged/` with `merge: true`.

Layout of `<run>/student/`:

    adapter_model.safetensors, adapter_config.json   the LoRA adapter (or model.safetensors in full)
    tokenizer.json, tokenizer_config.json, chat_template.jinja
    training_summary.json
    merged/        with merge: true, a plain transformers model (vLLM loads it too)
    checkpoints/   checkpoint-N/ folders, for resuming
    base/          the tiny base model, with base_model: tiny
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib.util
import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune.base_model import first_line, load_model, prepare_base
from finetune.checkpoints import (
    check_fingerprint,
    last_checkpoint,
    step_of,
    tokens_in,
    write_fingerprint,
)
from finetune.history import loss_curve
from finetune.soft_targets import SoftTargets, soft_targets
from finetune.token_targets import TokenTargets
from synth.errors import ConfigError, DependencyError
from synth.student_config import StudentConfig

if TYPE_CHECKING:
    from synth.config import RunConfig

Progress = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    student_dir: Path  # <run>/student
    # what AutoModelForCausalLM loads: merged/, the full model, or the adapter folder
    model_dir: Path
    summary: dict[str, Any]  # the content of training_summary.json

    def describe(self) -> str:
        """A few lines for the CLI: what was trained, how fast, how far the loss fell, where."""
        s = self.summary
        how = {
            "full": "full fine-tune",
            "lora": "LoRA",
            "lora+modules_to_save": "LoRA + modules_to_save",
        }
        resumed = (
            f", resumed at step {s['resumed_from_step']}" if s.get("resumed_from_step") else ""
        )
        if s.get("already_trained"):
            resumed = ", already trained: kept as it was; --no-resume trains again"

        speed = f" at {s['tokens_per_s']:,.0f} tokens/s" if s.get("tokens_per_s") else ""
        lines = [
            f"student: {how.get(s['method'], s['method'])} of {s['base_model']}, "
            f"{s['precision']} on {s['hardware']}",
            f"  {s['steps']} steps ({s['epochs']:g} epochs{resumed}), "
            f"{s['tokens_seen']:,} tokens{speed}, {s['train_runtime_s']:.0f}s training",
        ]
        if s.get("first_train_loss") is not None and s.get("final_train_loss") is not None:
            loss = f"  loss {s['first_train_loss']:.3f} -> {s['final_train_loss']:.3f} (train)"
            if s.get("final_eval_loss") is not None:
                loss += f", {s['final_eval_loss']:.3f} (validation"
                loss += f", best at {s['best_checkpoint']})" if s.get("best_checkpoint") else ")"
            lines.append(loss)
        lines.extend(_token_targets_lines(s.get("distill") or {}))
        lines.append(f"  model: {s['model_dir']}")
        return "\n".join(lines)


def _token_targets_lines(d: dict[str, Any]) -> list[str]:
    """The token-level loss's coverage, and a warning when nothing carried a soft target."""
    if d.get("targets") != "tokens":
        return []
    lines = [
        f"  distill: {d['loss']} (alpha {d['alpha']:g}, T {d['temperature']:g}), soft targets on "
        f"{d['aligned_fraction']:.1%} of {d['answer_tokens']:,} answer tokens; "
        f"{d['rows_without_targets']:,} rows with none"
    ]
    if d["aligned_tokens"] == 0:
        why = (
            "the teacher's tokens do not spell the stored answers (JSON answers are stored "
            "with sorted keys)"
            if d["rows_unspelled"]
            else "no answer's tokens matched the teacher's"
        )
        lines.append(
            f"  warning: no answer token carried a soft target: {why}; cross-entropy alone trained"
        )
    return lines


@dataclass
class Prepared:
    """Everything `train` sets up before the first step (tests inspect its trainer's batches)."""

    trainer: Any  # trl.SFTTrainer
    tokenizer: Any
    student_dir: Path
    base_path: str
    last_checkpoint: Path | None
    loss_mode: str
    precision: str
    liger: bool
    hardware: Any  # finetune.device.Hardware
    splits: Any  # datasets.DatasetDict
    soft: SoftTargets | TokenTargets | None = None  # student.distill: soft or mix


def prepare(
    cfg: RunConfig,
    *,
    resume: bool = True,
    progress: Progress | None = None,
    callbacks: list[Any] | None = None,
) -> Prepared:
    """Check the config against the hardware, load the dataset and the base, build the trainer."""
    s = cfg.student
    if s is None:
        raise ConfigError(
            f"{cfg.config_path or 'config'}: no student: section: add one (student: {{base_model: ...}})"
        )
    _require("torch", "transformers", "trl", "peft", "accelerate", "datasets")

    from finetune import device
    from finetune.data import load_splits

    hw = device.detect()
    precision = device.resolve_precision(s.precision, hw)
    if s.load_in_4bit:
        device.check_4bit(hw)
    liger = device.resolve_liger(s.use_liger, hw)

    splits = load_splits(cfg.paths.dataset)
    student_dir = cfg.paths.student
    ckpt_dir = cfg.paths.checkpoints
    from accelerate import PartialState

    # the first PartialState fixes the process group for the run: on CPU, only cpu=True joins
    # the processes of a `torchrun` / `accelerate launch` (gloo) instead of training N copies
    state = PartialState(cpu=hw.device == "cpu")
    if not resume and ckpt_dir.exists() and state.is_main_process:
        shutil.rmtree(ckpt_dir)  # starting over: old checkpoints would be rotated in with new ones
    last = last_checkpoint(ckpt_dir) if resume else None
    check_fingerprint(ckpt_dir, s, resuming=last is not None)

    with _quiet():
        # under `accelerate launch`, one process builds the tiny base while the others wait
        with state.main_process_first():
            base_path = prepare_base(cfg, s, splits, student_dir)
        tokenizer, model, loss_mode, added = load_model(base_path, s, precision)
        soft = soft_targets(cfg, s, splits, tokenizer)
        trainer = _trainer(
            s, model, tokenizer, splits, loss_mode, added, precision, liger, ckpt_dir, hw, soft
        )
    for callback in ([_progress_callback(progress)] if progress else []) + list(callbacks or []):
        trainer.add_callback(callback)
    return Prepared(
        trainer,
        tokenizer,
        student_dir,
        base_path,
        last,
        loss_mode,
        precision,
        liger,
        hw,
        splits,
        soft,
    )


def train(
    cfg: RunConfig,
    *,
    resume: bool = True,
    progress: Progress | None = None,
    callbacks: list[Any] | None = None,
) -> TrainResult:
    """Train the student of `cfg` on `<run>/dataset/`; resume from the last checkpoint if any.

    `progress`, when given, is called with small dicts: {"event": "begin", "step": n,
    "total_steps": N}, {"event": "step", ...}, {"event": "log", "step": n, "loss": ...} and
    {"event": "eval", "step": n, "eval_loss": ...}. `callbacks` are extra transformers
    `TrainerCallback`s.
    """
    import torch

    started = time.perf_counter()
    p = prepare(cfg, resume=resume, progress=progress, callbacks=callbacks)
    s, trainer, hw, last = cfg.student, p.trainer, p.hardware, p.last_checkpoint
    assert s is not None
    ckpt_dir = cfg.paths.checkpoints
    finished = _already_finished(cfg, trainer, last)
    if finished is not None:
        return finished
    main = trainer.is_world_process_zero()
    processes = trainer.args.world_size  # > 1 under `accelerate launch --num_processes N`
    if main:
        write_fingerprint(ckpt_dir, s)
    trainable = sum(x.numel() for x in trainer.model.parameters() if x.requires_grad)
    total = sum(x.numel() for x in trainer.model.parameters())

    if hw.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokens_before = tokens_in(last)
    with _quiet():
        out = trainer.train(resume_from_checkpoint=str(last) if last else None)
        state = trainer.state
        # before the closing evaluate(): with load_best_model_at_end, that one scores the
        # best checkpoint at the last step, a point that is not on the curve
        curve = loss_curve(state.log_history)
        eval_metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
        peak_gib = (
            round(torch.cuda.max_memory_allocated() / 2**30, 3) if hw.device == "cuda" else None
        )

        student_dir = p.student_dir
        trainer.save_model(str(student_dir))  # the main process writes, the others wait
        if main:
            p.tokenizer.save_pretrained(str(student_dir))
        model_dir = student_dir
        merged_dir = None
        merge_s = None
        if s.merge and not s.full_finetune and main:
            from finetune.merge import merge_adapter

            # free the training copy first: merging loads the base again, in its own dtype
            p.trainer = trainer = None
            gc.collect()
            t_merge = time.perf_counter()
            merged_dir = merge_adapter(student_dir, cfg.paths.merged)
            merge_s = round(time.perf_counter() - t_merge, 2)
            model_dir = merged_dir

    runtime = float(out.metrics.get("train_runtime") or 0.0)
    session_tokens = state.num_input_tokens_seen - tokens_before
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    summary = {
        "base_model": s.base_model,
        "base_model_path": p.base_path,
        "method": s.method,
        "lora": None if s.full_finetune else s.lora.model_dump(),
        "loss_on": "assistant tokens"
        if p.loss_mode == "assistant_only"
        else "last assistant turn (completion)",
        "loss_mode": p.loss_mode,
        "distill": p.soft.describe(s) if p.soft else {"loss": "hard"},
        "precision": p.precision,
        "load_in_4bit": s.load_in_4bit,
        "packing": s.packing,
        "liger": p.liger,
        "hardware": hw.name,
        "device": hw.device,
        "gpus": hw.count if hw.device == "cuda" else 0,
        "processes": processes,
        "peak_gpu_memory_gib": peak_gib,
        "train_rows": len(p.splits["train"]),
        "validation_rows": len(p.splits["validation"]) if "validation" in p.splits else 0,
        "steps": state.global_step,
        "epochs": round(state.epoch or 0.0, 4),
        "resumed_from_step": step_of(last),
        "tokens_seen": state.num_input_tokens_seen,
        "tokens_per_s": round(session_tokens / runtime, 1)
        if runtime > 0 and session_tokens
        else None,
        "train_runtime_s": round(runtime, 2),
        "wall_time_s": round(time.perf_counter() - started, 2),
        "first_train_loss": losses[0] if losses else None,
        "final_train_loss": losses[-1] if losses else None,
        "mean_train_loss": out.training_loss if out.training_loss == out.training_loss else None,
        "final_eval_loss": eval_metrics.get("eval_loss"),
        "loss_curve": curve,  # [step, loss] pairs: train every logging_steps, validation every eval_steps
        "best_eval_loss": state.best_metric,
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        "trainable_params": trainable,
        "total_params": total,
        "student_dir": str(student_dir),
        "model_dir": str(model_dir),
        "merged_dir": str(merged_dir) if merged_dir else None,
        "merge_s": merge_s,  # what merge: true (the default for LoRA) adds to wall_time_s
        "versions": _versions(),
    }
    if main:
        cfg.paths.training_summary.write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
    return TrainResult(student_dir=student_dir, model_dir=model_dir, summary=summary)


def _already_finished(cfg: RunConfig, trainer: Any, last: Path | None) -> TrainResult | None:
    """The result of a training that already ran to its planned last step, or None.

    Resuming from the final checkpoint would make the trainer take one step more than planned
    (and write a different student), so a re-run of a finished training keeps what it wrote.
    """
    summary_path = cfg.paths.training_summary
    if last is None or not summary_path.is_file():
        return None
    planned = trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if (step_of(last) or 0) < planned or summary.get("steps") != step_of(last):
        return None
    model_dir = Path(summary.get("model_dir") or cfg.paths.student)
    if not model_dir.is_dir():
        return None
    summary["already_trained"] = True
    return TrainResult(student_dir=cfg.paths.student, model_dir=model_dir, summary=summary)


# -- the trainer ------------------------------------------------------------------------------


def sft_config(
    s: StudentConfig,
    output_dir: Path,
    *,
    precision: str,
    liger: bool,
    has_eval: bool,
    loss_mode: str = "assistant_only",
    pin_memory: bool = False,
    use_cpu: bool = False,
) -> Any:
    """The `SFTConfig` for a student section; `sft_overrides` win, unknown ones are a ConfigError."""
    from trl import SFTConfig

    known = {f.name for f in dataclasses.fields(SFTConfig)}
    unknown = sorted(set(s.sft_overrides) - known)
    if unknown:
        raise ConfigError(
            f"student.sft_overrides.{unknown[0]}: not a trl.SFTConfig field (check its spelling)"
        )
    eval_steps = s.eval_steps or 0.2
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": s.epochs,
        "max_steps": s.max_steps or -1,
        "learning_rate": s.learning_rate,
        "lr_scheduler_type": s.lr_scheduler,
        "warmup_steps": s.warmup_ratio,  # a float below 1 is a fraction of the steps
        "weight_decay": s.weight_decay,
        "per_device_train_batch_size": s.batch_size,
        "per_device_eval_batch_size": s.batch_size,
        "gradient_accumulation_steps": s.grad_accum,
        "max_length": s.max_length,
        "packing": s.packing,
        "padding_free": s.packing,
        "seed": s.seed,
        "data_seed": s.seed,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "gradient_checkpointing": s.gradient_checkpointing,
        "use_liger_kernel": liger,
        "assistant_only_loss": loss_mode == "assistant_only",
        "completion_only_loss": loss_mode == "completion_only",
        "logging_steps": s.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": eval_steps if has_eval else None,
        "save_strategy": "steps",
        "save_steps": s.save_steps or eval_steps,
        "save_total_limit": 2,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": "eval_loss",
        "greater_is_better": False,
        "include_num_input_tokens_seen": "non_padding",
        "report_to": _report_to(s.report_to),
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": pin_memory,
        # on CPU, what joins the processes of a multi-process launch into one gloo group
        "use_cpu": use_cpu,
    }
    args.update(s.sft_overrides)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return SFTConfig(**args)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"student: {first_line(e)}") from None


def _trainer(
    s: StudentConfig,
    model: Any,
    tokenizer: Any,
    splits: Any,
    loss_mode: str,
    added: list[str],
    precision: str,
    liger: bool,
    ckpt_dir: Path,
    hw: Any,
    soft: SoftTargets | TokenTargets | None = None,
) -> Any:
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from finetune.chat_template import to_prompt_completion
    from finetune.data import conversations

    train_ds = conversations(splits["train"])
    eval_ds = (
        conversations(splits["validation"])
        if "validation" in splits and len(splits["validation"])
        else None
    )
    if soft is not None:  # the teacher's label distribution, or per-token top-K, per row
        train_ds = soft.attach(train_ds, "train")
        eval_ds = soft.attach(eval_ds, "validation") if eval_ds is not None else None
    if loss_mode == "completion_only":
        train_ds = train_ds.map(to_prompt_completion, remove_columns=["messages"])
        eval_ds = (
            eval_ds.map(to_prompt_completion, remove_columns=["messages"])
            if eval_ds is not None
            else None
        )
    args = sft_config(
        s,
        ckpt_dir,
        precision=precision,
        liger=liger,
        has_eval=eval_ds is not None,
        loss_mode=loss_mode,
        pin_memory=hw.device == "cuda",
        use_cpu=hw.device == "cpu",
    )

    peft_config = None
    if not s.full_finetune:
        from peft import LoraConfig

        token_rows = tokenizer.convert_tokens_to_ids(added) if added else None
        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=s.lora.r,
            lora_alpha=s.lora.alpha,
            lora_dropout=s.lora.dropout,
            target_modules=s.lora.target_modules,
            modules_to_save=list(s.lora.modules_to_save) if s.lora.modules_to_save else None,
            # tokens the default chat template added start untrained: train their rows too
            trainable_token_indices=token_rows,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # use_liger_kernel's deprecation notice
            common: dict[str, Any] = dict(
                model=model,
                args=args,
                train_dataset=train_ds,
                eval_dataset=eval_ds,
                processing_class=tokenizer,
                peft_config=peft_config,
            )
            if soft is None:
                trainer = SFTTrainer(**common)
            elif isinstance(soft, TokenTargets):
                from finetune.token_distill import TokenDistillTrainer

                trainer = TokenDistillTrainer(
                    **common, alpha=soft.alpha, temperature=s.distill.temperature
                )
                soft.measure(trainer.train_dataset)  # how many answer tokens carry a target
            else:
                from finetune.distill_loss import DistillTrainer

                trainer = DistillTrainer(
                    **common,
                    label_ids=soft.label_ids,
                    alpha=soft.alpha,
                    temperature=s.distill.temperature,
                )
    except ValueError as e:
        # e.g. target_modules naming no module of this model
        raise ConfigError(f"student: {first_line(e)}") from None
    # the library reports through `progress`; the CLI decides what to print
    trainer.remove_callback(PrinterCallback)
    return trainer


def _progress_callback(progress: Progress) -> Any:
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress({"event": "begin", "step": state.global_step, "total_steps": state.max_steps})

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress({"event": "step", "step": state.global_step, "total_steps": state.max_steps})

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            kind = "eval" if any(k.startswith("eval_") for k in logs) else "log"
            progress({"event": kind, "step": state.global_step, **logs})

    return _Progress()


# -- small helpers ----------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Any:
    """No tqdm bars from datasets/transformers while we work: the CLI draws its own progress."""
    import datasets
    from transformers.utils import logging as hf_logging

    ds_on = datasets.is_progress_bar_enabled()
    hf_on = hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if ds_on:
            datasets.enable_progress_bars()
        if hf_on:
            hf_logging.enable_progress_bar()


def _require(*modules: str) -> None:
    for name in modules:
        if importlib.util.find_spec(name) is None:
            raise DependencyError(f"distill train needs {name}: pip install {name}")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _report_to(name: str) -> str:
    """`student.report_to`, checked before training starts: a tracker that is not installed is
    one line, not a traceback after the model has loaded."""
    import importlib.util

    package = None if name == "none" else name
    if package and importlib.util.find_spec(package) is None:
        raise ConfigError(f"student.report_to: {name} is not installed (pip install {package})")
    return name
