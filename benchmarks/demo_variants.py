"""The demo's student, trained a few ways on the demo's own dataset: which one agrees most
with the teacher on the validation split, at what training cost.

`distill demo` harvests the bundled support tickets from the simulated teacher and builds one
dataset (train / validation / test). Every variant here trains on that same built dataset,
through `finetune.train.train` as `distill train` runs it, and is scored with `distill eval`'s
own code on the **validation** split: the test split is read only for the variant picked
(`--test NAME`), once.

    python benchmarks/demo_variants.py --config demo-run/config.yaml   # a finished `distill demo --dir demo-run`
    python benchmarks/demo_variants.py --config demo-run/config.yaml --variants demo,grouped-6ep
    python benchmarks/demo_variants.py --test grouped-6ep              # the pick, on test, once
    python benchmarks/demo_variants.py --smoke                         # a tiny harvest, two tiny students

Without `--config` it harvests and builds the demo's dataset itself (the demo's simulated
teacher, its faults and latency included). Each variant trains in its own run folder next to
the demo's (`<runs_dir>/variant-NAME/`). Training cost is measured as wall seconds and as the
process's CPU seconds: run with `OMP_NUM_THREADS=1`, the CPU seconds barely move with what else
the machine runs, so variants measured at different times still compare. Results are merged
by variant into `results/demo_variants.json`, so the table can be filled in several runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS_DIR, console, save, table  # noqa: E402

# name -> dotted `--set` overrides of the demo's config; "demo" is the demo as it ships.
# Tickets are 22-135 tokens (median 62): batches of random rows are ~40% padding, batches of
# rows of similar length (transformers' `group_by_length` sampler) almost none, which pays
# for more epochs at the same cost.
GROUPED = {"student.sft_overrides": {"train_sampling_strategy": "group_by_length"}}
VARIANTS: dict[str, dict[str, Any]] = {
    "demo": {},
    "grouped": GROUPED,
    "grouped-6ep": {**GROUPED, "student.epochs": 6},
    "grouped-6ep-lr2e-3": {**GROUPED, "student.epochs": 6, "student.learning_rate": 2.0e-3},
    "grouped-6ep-alpha0.8": {**GROUPED, "student.epochs": 6, "student.distill.alpha": 0.8},
    # a third block: about 1.3x the compute per token, paid for by grouping and 5 epochs
    "grouped-5ep-3layers": {
        **GROUPED,
        "student.epochs": 5,
        "student.tiny": {"vocab_size": 4096, "hidden_size": 256, "layers": 3, "heads": 4},
    },
}

SMOKE = {
    "student.tiny": {"vocab_size": 512, "hidden_size": 64, "layers": 1, "heads": 2},
    "student.max_length": 128,
}


def demo_dataset(work: Path, items: int | None) -> Path:
    """Harvest and build the demo's dataset in `work` (the demo's teacher settings); returns
    the config path."""
    from synth.cli.demo import SIM, write_demo_config
    from synth.config import load_config
    from synth.dataset.builder import build
    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer

    with SimServer(**SIM) as sim:
        config = write_demo_config(work, sim.openai_base_url, items)
        harvest(load_config(config))
    build(load_config(config))
    return config


def variant_config(config: Path, name: str, overrides: dict[str, Any], **extra: Any) -> Any:
    from synth.config import load_config

    if name == "demo" and _demo_trained(config):
        return load_config(config, {**overrides, **extra})  # the demo's own run
    return load_config(config, {"name": f"variant-{name}", **overrides, **extra})


def _demo_trained(config: Path) -> bool:
    """Whether `distill demo` trained its student in its own run (then "demo" is that one)."""
    from synth.config import load_config

    return load_config(config).paths.training_summary.is_file()


def train_variant(config: Path, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Train one variant on a copy of the demo's dataset and score it on validation."""
    from evals.run import evaluate
    from finetune.train import train
    from synth.config import load_config

    source = load_config(config).paths.dataset
    cfg = variant_config(config, name, overrides)
    reused = cfg.paths.dataset == source  # "demo", trained by `distill demo` itself
    if not reused:
        if cfg.paths.dataset.exists():
            shutil.rmtree(cfg.paths.dataset)
        shutil.copytree(source, cfg.paths.dataset)
    cpu0 = time.process_time()
    result = train(cfg, resume=reused)
    # the demo's own training ran in another process: its CPU time is not known here
    cpu = None if reused else time.process_time() - cpu0
    s = result.summary
    ev = evaluate(variant_config(config, name, overrides, **{"eval.split": "validation"}))
    summary = ev.metrics["metrics"]["summary"]
    return {
        "overrides": overrides,
        "steps": s["steps"],
        "epochs": s["epochs"],
        "train_runtime_s": s["train_runtime_s"],
        "train_wall_s": s["wall_time_s"],
        "train_cpu_s": None if cpu is None else round(cpu, 1),
        "trained_by": "distill demo" if reused else "this script",
        "final_eval_loss": s["final_eval_loss"],
        "best_checkpoint": s["best_checkpoint"],
        "validation": {
            "items": ev.metrics["items"],
            "agreement": summary.get("agreement with teacher"),
            "student_accuracy_vs_gold": summary.get("student accuracy vs gold"),
            "teacher_accuracy_vs_gold": summary.get("teacher accuracy vs gold"),
        },
    }


def test_variant(config: Path, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from evals.run import evaluate

    ev = evaluate(variant_config(config, name, overrides, **{"eval.split": "test"}))
    summary = ev.metrics["metrics"]["summary"]
    return {
        "items": ev.metrics["items"],
        "agreement": summary.get("agreement with teacher"),
        "student_accuracy_vs_gold": summary.get("student accuracy vs gold"),
        "teacher_accuracy_vs_gold": summary.get("teacher accuracy vs gold"),
    }


def print_table(variants: dict[str, Any]) -> None:
    rows = []
    for name, v in variants.items():
        val, test = v.get("validation") or {}, v.get("test") or {}
        rows.append(
            [
                name,
                val.get("agreement"),
                val.get("student_accuracy_vs_gold"),
                v.get("steps"),
                v.get("train_runtime_s"),
                v.get("train_cpu_s"),
                test.get("agreement"),
            ]
        )
    console.print(
        table(
            "the demo's student, by variant (validation split; test only for the pick)",
            [
                "variant",
                "val agreement",
                "val acc vs gold",
                "steps",
                "train s",
                "cpu s",
                "test agr.",
            ],
            rows,
        )
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, help="the config.yaml of a finished `distill demo`")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    p.add_argument("--test", metavar="NAME", help="score this (trained) variant on test, once")
    p.add_argument("--smoke", action="store_true", help="a tiny run (the test suite's)")
    p.add_argument("--out", type=Path, default=None, help=f"folder for the JSON ({RESULTS_DIR})")
    p.add_argument("--workdir", type=Path, default=None, help="where a fresh demo run goes")
    args = p.parse_args(argv)
    out_dir = args.out or RESULTS_DIR
    previous = out_dir / "demo_variants.json"
    variants: dict[str, Any] = {}
    config = args.config
    if previous.exists() and not args.smoke:
        saved = json.loads(previous.read_text())
        variants = saved.get("variants", {})
        if config is None and args.test:  # the run the table was trained on
            config = Path(saved["config"])
    if config is None:
        work = (args.workdir or Path("demo-variants-run")).resolve()
        config = demo_dataset(work, 200 if args.smoke else None)
    names = [n for n in args.variants.split(",") if n]
    if args.smoke:  # two tiny students, then the first on test
        names, args.test = ["demo", "grouped-6ep"], None
    unknown = [n for n in [*names, args.test or "demo"] if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]}: one of {', '.join(VARIANTS)}")
    if args.test and args.test not in variants:
        p.error(f"{args.test}: train it first (run without --test)")
    extra = SMOKE if args.smoke else {}

    if not args.test:
        for name in names:
            console.print(f"variant {name}: {VARIANTS[name] or 'the demo as it ships'}")
            variants[name] = train_variant(config, name, {**VARIANTS[name], **extra})
            variants[name]["command"] = " ".join(["python", *sys.argv])
            val = variants[name]["validation"]
            console.print(
                f"  validation agreement {val['agreement']:.3f} ({val['items']} items), "
                f"training {variants[name]['train_runtime_s']} s, "
                f"{variants[name]['train_cpu_s']} s CPU"
            )
            # what has run so far, should the run be cut short
            save(
                "demo_variants",
                {"smoke": args.smoke, "config": str(config), "variants": variants},
                out_dir=out_dir,
                argv=argv,
            )
    pick = "demo" if args.smoke else args.test
    if pick:
        variants[pick]["test"] = test_variant(config, pick, {**VARIANTS[pick], **extra})
        variants[pick]["test"]["command"] = " ".join(["python", *sys.argv])
    print_table(variants)
    data = {"smoke": args.smoke, "config": str(config), "variants": variants}
    save("demo_variants", data, out_dir=out_dir, argv=argv)
    return data


if __name__ == "__main__":
    main()
