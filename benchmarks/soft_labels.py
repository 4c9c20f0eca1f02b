"""Soft labels vs hard labels: what the teacher's top-K log-probabilities teach a small student.

The support-tickets example (1,500 tickets, twelve labels) is harvested once from the
simulated teacher at temperature 0 with `teacher.logprobs: 20` (its answer token's top-K is
its belief: softmax of the same scores that choose its answer, never the gold label), built
once (fixed validation/test split), then the same tiny student is trained on the first N rows
of a seed-shuffled train split with `student.distill.loss` hard, mix (alpha 0.5) and soft, for
the same number of steps (`--steps`, 200 by default: 40 leave a student this small at chance;
`soft` only with `--losses hard,mix,soft`), through `finetune.train.train` as `distill train` runs it. Each
student is scored on the same test split: agreement with the teacher's label and accuracy
against the records' gold `category`, reading the student's answer as its most likely label
(`finetune.label_probs`, the same for every loss; no generation).

    python benchmarks/soft_labels.py                 # sizes 150/300/600/full, 3 seeds
    python benchmarks/soft_labels.py --smoke         # one size, one seed (the test suite)
    python benchmarks/soft_labels.py --first-seed 2 --seeds 1 --sizes 150,300 --workdir W2
    python benchmarks/soft_labels.py --combine W1/runs_so_far.json W2/runs_so_far.json
                                                     # a run split across processes, summarised

Figures: mean and spread (min-max) over the seeds; one row per (size, loss).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, add_common_args, console, save, table, tiny_student  # noqa: E402

LOSSES = ("hard", "mix", "soft")
TINY = {"vocab_size": 1024, "hidden_size": 64, "layers": 2, "heads": 4}


def harvest_and_build(work: Path, items: int | None = None) -> Path:
    """One harvest (logprobs 20) and one build of the example (its first `items` tickets);
    returns the config path."""
    import yaml

    from synth.config import load_config
    from synth.dataset.builder import build
    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer

    example = REPO / "examples" / "support-tickets"
    inputs = example / "inputs.jsonl"
    if items is not None:
        lines = inputs.read_text(encoding="utf-8").splitlines(keepends=True)[:items]
        inputs = work / "inputs.jsonl"
        inputs.write_text("".join(lines), encoding="utf-8")
    cfg = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    with SimServer(answers="tickets", latency_ms=(0, 0)) as sim:
        cfg.update(
            name="soft",
            runs_dir=str(work / "runs"),
            inputs=str(inputs),
            template="support-ticket",
            budget_usd=1.0,
            filters=["finish", "refusal", "labels", "dedup"],
            dataset={"validation": 0.1, "test": 0.15, "seed": 0, "system_prompt": False},
        )
        cfg["teacher"].update(
            base_url=sim.openai_base_url,
            api_key_env=None,  # a local endpoint needs no key
            concurrency=32,
            rpm=None,
            logprobs=20,
        )
        path = work / "config.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        harvest(load_config(path))
    build(load_config(path))
    return path


def teacher_dist_stats(train: Any) -> dict[str, Any]:
    """How much the soft targets say beyond the hard label: the teacher's mean probability on
    its top label, its mean entropy (nats), and how often that top label is the row's label."""
    dists = [
        (json.loads(d), lab)
        for d, lab in zip(train["teacher_dist"], train["label"], strict=True)
        if d
    ]
    if not dists:
        return {}
    top = [max(p.values()) for p, _ in dists]
    entropy = [-sum(v * math.log(v) for v in p.values() if v > 0) for p, _ in dists]
    return {
        "teacher_top_prob_mean": round(statistics.fmean(top), 4),
        "teacher_top_prob_median": round(statistics.median(top), 4),
        "teacher_entropy_mean_nats": round(statistics.fmean(entropy), 4),
        "teacher_top_is_label": sum(max(p, key=p.__getitem__) == lab for p, lab in dists)
        / len(dists),
    }


def run(
    config: Path,
    sizes: list[int | None],
    seeds: list[int],
    steps: int,
    work: Path,
    losses: tuple[str, ...] = LOSSES,
) -> Any:
    import torch
    from datasets import DatasetDict, load_from_disk

    from evals.generate import load_student
    from finetune.label_probs import label_logprobs
    from finetune.tiny import build_tiny_student, texts_of
    from finetune.train import train
    from synth.config import load_config
    from synth.student_config import StudentConfig
    from synth.templates import load_template

    base_cfg = load_config(config)
    labels = list(load_template(base_cfg.template, base_cfg.base_dir).labels or [])
    splits = load_from_disk(str(base_cfg.run_dir / "dataset"))
    full_train, test = splits["train"], splits["test"]
    prompts = [row[:-1] for row in test["messages"]]
    teacher = test["label"]
    gold = [json.loads(i).get("category") for i in test["input"]]
    soft_rows = sum(1 for d in full_train["teacher_dist"] if d)
    console.print(
        f"train {len(full_train)} rows ({soft_rows} with a teacher distribution), "
        f"test {len(test)}; {steps} steps each"
    )
    runs = []
    for seed in seeds:
        # one student per seed: the same base (tokenizer from the train split) for every loss
        base = build_tiny_student(work / f"base-{seed}", texts_of(full_train), **TINY, seed=seed)
        order = list(range(len(full_train)))
        random.Random(seed).shuffle(order)
        for size in sizes:
            n = len(full_train) if size is None else min(size, len(full_train))
            subset = full_train.select(order[:n])
            for loss in losses:
                cfg = base_cfg.model_copy(deep=True)
                cfg.name = f"soft-{n}-{seed}-{loss}"
                cfg.student = StudentConfig.model_validate(
                    tiny_student(base, steps=steps, seed=seed, max_length=256, loss=loss)
                )
                DatasetDict({"train": subset}).save_to_disk(str(cfg.run_dir / "dataset"))
                t0 = time.perf_counter()
                result = train(cfg, resume=False)
                model, tokenizer, _ = load_student(result.student_dir, device="cpu")
                with torch.no_grad():
                    picked = label_logprobs(model, tokenizer, prompts, labels).argmax(-1).tolist()
                answers = [labels[i] for i in picked]
                agree = sum(a == t for a, t in zip(answers, teacher, strict=True)) / len(answers)
                scored = [(a, g) for a, g in zip(answers, gold, strict=True) if g]
                acc = sum(a == g for a, g in scored) / len(scored) if scored else None
                runs.append(
                    {
                        "size": n,
                        "size_name": "full" if size is None else str(size),
                        "seed": seed,
                        "loss": loss,
                        "agreement": agree,
                        "accuracy": acc,
                        "soft_rows": result.summary["distill"].get("soft_rows"),
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                )
                # what has run so far, should the run be cut short
                (work / "runs_so_far.json").write_text(json.dumps(runs, indent=1))
                console.print(
                    f"  n={n} seed={seed} {loss:4}: agreement {agree:.3f}, accuracy {acc:.3f} "
                    f"({runs[-1]['seconds']}s)"
                )
    teacher_acc = [(t, g) for t, g in zip(teacher, gold, strict=True) if g]
    return runs, {
        "train_rows": len(full_train),
        "train_rows_with_teacher_dist": soft_rows,
        **teacher_dist_stats(full_train),
        "test_rows": len(test),
        "teacher_accuracy_vs_gold": sum(t == g for t, g in teacher_acc) / len(teacher_acc),
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for size_name in dict.fromkeys(r["size_name"] for r in runs):
        for loss in LOSSES:
            group = [r for r in runs if r["size_name"] == size_name and r["loss"] == loss]
            if not group:
                continue
            ag = [r["agreement"] for r in group]
            ac = [r["accuracy"] for r in group]
            rows.append(
                {
                    "size": size_name,
                    "rows": group[0]["size"],
                    "loss": loss,
                    "seeds": len(group),
                    "agreement_mean": statistics.fmean(ag),
                    "agreement_min": min(ag),
                    "agreement_max": max(ag),
                    "accuracy_mean": statistics.fmean(ac),
                    "accuracy_min": min(ac),
                    "accuracy_max": max(ac),
                }
            )
    return rows


def report(runs: list[dict[str, Any]], extra: dict[str, Any], out: Any, argv: Any) -> Path:
    summary = summarise(runs)
    console.print(
        table(
            "soft labels vs hard labels (tickets, test split; mean, min-max over seeds)",
            ["train rows", "loss", "seeds", "agreement with teacher", "accuracy vs gold"],
            [
                [
                    f"{r['size']} ({r['rows']})",
                    r["loss"],
                    str(r["seeds"]),
                    f"{r['agreement_mean']:.3f} [{r['agreement_min']:.3f}-{r['agreement_max']:.3f}]",
                    f"{r['accuracy_mean']:.3f} [{r['accuracy_min']:.3f}-{r['accuracy_max']:.3f}]",
                ]
                for r in summary
            ],
        )
    )
    data = {
        "batch_size": 16,
        "student": {**TINY, "full_finetune": True, "learning_rate": 2e-3},
        "mix": {"alpha": 0.5, "temperature": 1.0},
        **extra,
        "summary": summary,
        "runs": runs,
    }
    return save("soft_labels", data, out, argv)


def combine(paths: list[Path]) -> list[dict[str, Any]]:
    """The students of several runs' `runs_so_far.json` (runs split across processes, or cut
    short), one per (size, seed, loss): the runs are deterministic, so a repeat is the same."""
    seen: dict[tuple[str, int, str], dict[str, Any]] = {}
    for path in paths:
        for r in json.loads(path.read_text(encoding="utf-8")):
            seen.setdefault((r["size_name"], r["seed"], r["loss"]), r)
    return list(seen.values())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--steps", type=int, default=200, help="optimizer steps per student")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed.. (split a run)")
    p.add_argument(
        "--losses",
        default="hard,mix",
        help="comma-separated, of hard, mix, soft (default hard,mix)",
    )
    p.add_argument(
        "--sizes",
        default="150,300,600,full",
        help="comma-separated train sizes, 'full' for the whole train split",
    )
    p.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        default=None,
        help="summarise these runs_so_far.json files (from --workdir runs) instead of training",
    )
    a = p.parse_args(argv)
    if a.combine:
        runs = combine(a.combine)
        combined: dict[str, Any] = {"steps": a.steps, "combined_from": len(a.combine)}
        if a.workdir:  # the build the runs trained on
            from datasets import load_from_disk

            splits = load_from_disk(str(a.workdir / "runs" / "soft" / "dataset"))
            combined.update(train_rows=len(splits["train"]), test_rows=len(splits["test"]))
            combined.update(teacher_dist_stats(splits["train"]))
        path = report(runs, combined, a.out, argv)
        console.print(f"wrote {path}")
        return {"runs": runs}
    wanted = [None if s == "full" else int(s) for s in a.sizes.split(",")]
    sizes: list[int | None] = [150] if a.smoke else wanted
    seeds = list(range(a.first_seed, a.first_seed + (1 if a.smoke else a.seeds)))
    steps = 4 if a.smoke else a.steps
    with tempfile.TemporaryDirectory() as tmp:
        work = a.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        config = harvest_and_build(work, 400 if a.smoke else None)
        losses = ("hard", "mix", "soft") if a.smoke else tuple(a.losses.split(","))
        runs, facts = run(config, sizes, seeds, steps, work, losses)
        wall = time.perf_counter() - t0
    extra: dict[str, Any] = {"steps": steps, "seeds": seeds, **facts, "wall_s": round(wall, 1)}
    path = report(runs, extra, a.out, argv)
    console.print(f"wrote {path} ({wall:.0f}s)")
    return {**extra, "summary": summarise(runs), "runs": runs}


if __name__ == "__main__":
    main()
