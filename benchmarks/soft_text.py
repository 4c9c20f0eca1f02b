"""Free-text soft labels: hard vs mix on the same tiny student, chrF of its answers vs the teacher's.

Free-text replies to support tickets (the simulated teacher's `echo` answers, harvested with
`teacher.logprobs: 20`, built once: `benchmarks/token_alignment.py` does both) train the same
tiny student per seed with `student.distill.loss` hard and mix (alpha 0.5, T 1), the same
steps, through `finetune.train.train` as `distill train` runs it; `evals.run.evaluate` (what
`distill eval` runs) then generates its answers on the held-out test split and scores them
with chrF against the teacher's. Reported per student: chrF vs teacher (corpus and mean per
item), ROUGE-L, and the share of train answer tokens that carried a soft target.

Also measured, once: how often the chat template tokenises an answer differently in context
than alone (such a row gets no target): the tiny student's ChatML template, and the Llama 3
training template TRL ships, on the same tokenizer.

The simulated teacher's free-text top-K values are a fixed function of each token, not a
belief, so this shows that the token-level loss runs, how much of the answer it reaches and
what it costs the student's fit to the teacher's text; it cannot show what a real teacher's
distribution would teach.

    python benchmarks/soft_text.py                  # 2 seeds, hard and mix, 200 steps
    python benchmarks/soft_text.py --smoke          # 60 tickets, one seed, 10 steps
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_common_args, console, save, table, tiny_student  # noqa: E402
from benchmarks.token_alignment import harvest_and_build  # noqa: E402

TINY = {"vocab_size": 1024, "hidden_size": 64, "layers": 2, "heads": 4}
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def in_context(tokenizer: Any, train: Any, chat_template: str | None = None) -> dict[str, Any]:
    """Rows whose answer, tokenised inside the conversation, is not its tokens alone."""
    from finetune.token_targets import answer_start

    rows = differ = 0
    for messages in train["messages"]:
        enc = tokenizer.apply_chat_template(
            messages,
            chat_template=chat_template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        labels = [
            t if m else -100 for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True)
        ]
        alone = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
        rows += 1
        differ += answer_start(labels, alone) is None
    return {"rows": rows, "rows_tokenised_differently": differ, "share": differ / rows}


def llama3_template(tokenizer: Any) -> str:
    """TRL's Llama 3 training template, its special tokens added to `tokenizer`."""
    import trl

    path = Path(trl.__file__).parent / "chat_templates" / "llama3_training.jinja"
    tokenizer.add_special_tokens({"additional_special_tokens": LLAMA3_SPECIAL})
    tokenizer.bos_token = "<|begin_of_text|>"
    return path.read_text(encoding="utf-8")


def run(config: Path, seeds: list[int], steps: int, work: Path) -> tuple[list[Any], dict[str, Any]]:
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from evals.run import evaluate
    from finetune.tiny import build_tiny_student, texts_of
    from finetune.train import train
    from synth.config import load_config
    from synth.eval_config import EvalConfig
    from synth.student_config import StudentConfig

    base_cfg = load_config(config)
    splits = load_from_disk(str(base_cfg.run_dir / "dataset"))
    console.print(
        f"train {len(splits['train'])} rows, test {len(splits['test'])}; {steps} steps each"
    )
    runs: list[dict[str, Any]] = []
    context: dict[str, Any] = {}
    for seed in seeds:
        base = build_tiny_student(
            work / f"base-{seed}", texts_of(splits["train"]), **TINY, seed=seed
        )
        if not context:
            tokenizer = AutoTokenizer.from_pretrained(str(base))
            context["chatml (tiny student)"] = in_context(tokenizer, splits["train"])
            llama = AutoTokenizer.from_pretrained(str(base))
            context["llama3 (TRL training template)"] = in_context(
                llama, splits["train"], llama3_template(llama)
            )
        for loss in ("hard", "mix"):
            cfg = base_cfg.model_copy(deep=True)
            cfg.name = f"text-{seed}-{loss}"
            cfg.student = StudentConfig.model_validate(
                tiny_student(
                    base,
                    steps=steps,
                    seed=seed,
                    max_length=512,
                    loss=loss,
                    eval_steps=steps,  # validation loss at the end only
                )
            )
            cfg.eval = EvalConfig.model_validate(
                {"max_new_tokens": 48, "batch_size": 32, "device": "cpu"}
            )
            splits.save_to_disk(str(cfg.run_dir / "dataset"))
            t0 = time.perf_counter()
            summary = train(cfg, resume=False).summary
            m = evaluate(cfg).metrics["metrics"]
            d = summary["distill"]
            runs.append(
                {
                    "seed": seed,
                    "loss": loss,
                    "chrf_vs_teacher": m["chrf_vs_teacher"],
                    "mean_chrf_vs_teacher": m["mean_chrf_vs_teacher"],
                    "rouge_l_vs_teacher": m["rouge_l_vs_teacher"],
                    "final_eval_loss": summary["final_eval_loss"],
                    "aligned_fraction": d.get("aligned_fraction"),
                    "rows_without_targets": d.get("rows_without_targets"),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            (work / "runs_so_far.json").write_text(json.dumps(runs, indent=1))
            console.print(
                f"  seed={seed} {loss:4}: chrF vs teacher {m['chrf_vs_teacher']:.1f}, "
                f"aligned {d.get('aligned_fraction', '-')} ({runs[-1]['seconds']}s)"
            )
    extra = {
        "train_rows": len(splits["train"]),
        "test_rows": len(splits["test"]),
        "steps": steps,
        "student": TINY,
        "in_context": context,
    }
    return runs, extra


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for loss in ("hard", "mix"):
        mine = [r for r in runs if r["loss"] == loss]
        if not mine:
            continue
        chrf = [r["chrf_vs_teacher"] for r in mine]
        rows.append(
            {
                "loss": loss,
                "seeds": len(mine),
                "chrf_mean": statistics.fmean(chrf),
                "chrf_min": min(chrf),
                "chrf_max": max(chrf),
                "mean_chrf": statistics.fmean(r["mean_chrf_vs_teacher"] for r in mine),
                "rouge_l": statistics.fmean(r["rouge_l_vs_teacher"] for r in mine),
                "aligned_fraction": mine[0]["aligned_fraction"],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--items", type=int, default=600, help="support tickets to harvest")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = a.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        config = harvest_and_build(work, 60 if a.smoke else a.items)
        seeds = [0] if a.smoke else list(range(a.seeds))
        runs, extra = run(config, seeds, 10 if a.smoke else a.steps, work)
        wall = time.perf_counter() - t0
    rows = summarise(runs)
    console.print(
        table(
            "free text (ticket replies): hard vs mix, chrF of the student's answers vs the teacher's",
            ["loss", "seeds", "chrF vs teacher [min-max]", "mean chrF", "ROUGE-L", "aligned"],
            [
                [
                    r["loss"],
                    str(r["seeds"]),
                    f"{r['chrf_mean']:.1f} [{r['chrf_min']:.1f}-{r['chrf_max']:.1f}]",
                    f"{r['mean_chrf']:.1f}",
                    f"{r['rouge_l']:.3f}",
                    "-" if r["aligned_fraction"] is None else f"{r['aligned_fraction']:.3f}",
                ]
                for r in rows
            ],
        )
    )
    for name, c in extra["in_context"].items():
        console.print(
            f"  in context, {name}: {c['rows_tokenised_differently']} of {c['rows']} answers "
            "tokenised differently"
        )
    data = {"summary": rows, "runs": runs, **extra, "wall_s": round(wall, 1)}
    path = save("soft_text", data, a.out, argv)
    console.print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
