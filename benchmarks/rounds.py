"""Active distillation: does spending the teacher where the student is unsure beat a random
choice of what to send, for the same teacher dollars?

The support-tickets task, a pool of 6,000 tickets from the example's generator (hardness is
the task's own: asides about a second topic, typos, rare categories, tickets in Spanish,
French, German or Portuguese; neither the pool nor the simulated teacher marks any item as
hard). Each seed runs `rounds:` twice from the same round 1 (a random 500), then three
rounds of 300: picked by the student's label margin (`select: uncertainty`), or at random
(`select: random`). Agreement with the teacher is measured each round on the test split that
round 1 fixed.

    python benchmarks/rounds.py                 # 3 seeds, 500 + 3 x 300 from 6,000
    python benchmarks/rounds.py --smoke         # the test suite's size
    python benchmarks/rounds.py --first-seed 1 --seeds 2 --keep   # add seeds 1-2 to the results

Target (issue): uncertainty reaches random's final agreement with at most 60% of the spend,
and ends higher.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from benchmarks.common import KEY_ENV, REPO, RESULTS_DIR, add_common_args, machine, save, table
from synth.cli.demo import SIM
from synth.cli.rounds import run_rounds
from synth.config import load_config
from synth.sim.runner import SimServer

MODES = ("uncertainty", "random")


def make_pool(path: Path, n: int, seed: int) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_inputs", REPO / "examples" / "support-tickets" / "make_inputs.py"
    )
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    with path.open("w", encoding="utf-8") as f:
        for row in gen.generate(n, seed):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_config(
    run_dir: Path, base_url: str, pool: Path, mode: str, seed: int, args: argparse.Namespace
) -> Path:
    cfg: dict[str, Any] = {
        "name": f"{mode}-{seed}",
        "runs_dir": str(run_dir),
        "inputs": str(pool),  # unused with rounds: (the pool is)
        "template": "support-ticket",
        "teacher": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": base_url,
            "api_key_env": KEY_ENV,
            "concurrency": 32,
            "params": {"temperature": 0, "max_tokens": 16},
        },
        "budget_usd": 5.0,
        "filters": [{"name": "finish"}, {"name": "refusal"}, {"name": "labels"}],
        "dataset": {"validation": 0.05, "test": args.test, "seed": seed, "system_prompt": False},
        "student": {
            "base_model": "tiny",
            "tiny": {
                "vocab_size": args.vocab,
                "hidden_size": args.hidden,
                "layers": args.layers,
                "heads": 4,
            },
            "full_finetune": True,
            "epochs": args.epochs,
            "batch_size": 16,
            "learning_rate": 2.0e-3,
            "warmup_ratio": 0.05,
            "max_length": 128,
            "merge": False,
            "seed": seed,
        },
        "eval": {"gold_field": "category"},
        "rounds": {
            "pool": str(pool),
            "first": args.first,
            "per_round": args.per_round,
            "max_rounds": args.rounds,
            "select": mode,
            "start_from": args.start_from,
            "seed": seed,
            "score_batch_size": 64,
            "score_at_most": args.score_at_most,
        },
    }
    path = run_dir / f"{mode}-{seed}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--pool", type=int, default=6000)
    ap.add_argument("--first", type=int, default=500)
    ap.add_argument("--per-round", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the results file's runs of other seeds (same settings otherwise)",
    )
    ap.add_argument("--test", type=float, default=0.25, help="round 1's test fraction")
    ap.add_argument("--start-from", default="previous", choices=["previous", "base"])
    ap.add_argument("--score-at-most", type=int, default=800, help="pool items scored a round")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--epochs", type=float, default=2)
    args = ap.parse_args()
    os.environ.setdefault(KEY_ENV, "sim-key")  # the simulated teacher takes any key
    if args.smoke:
        args.pool, args.first, args.per_round, args.rounds, args.seeds = 400, 120, 60, 2, 1
        args.hidden, args.vocab, args.epochs, args.score_at_most = 32, 512, 1, 100
    console = Console(stderr=True)
    log = Console(file=open(Path(tempfile.gettempdir()) / "rounds-bench.log", "w"), width=120)  # noqa: SIM115
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rounds-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pool = work / "pool.jsonl"
    make_pool(pool, args.pool, seed=20261202)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = kept_runs(args, seeds) if args.keep else []
    t_all = time.monotonic()
    sim = {**SIM, "latency_ms": (1, 3), "rpm": None}
    sim.update({k: 0.0 for k in sim if k.startswith("fault_") and k != "fault_retry_after_s"})
    with SimServer(**sim) as server:
        for seed in seeds:
            for mode in MODES:
                t0 = time.monotonic()
                cfg = load_config(
                    write_config(work, server.openai_base_url, pool, mode, seed, args)
                )
                result = run_rounds(cfg, console=log)
                wall = time.monotonic() - t0
                runs.append(
                    {
                        "seed": seed,
                        "select": mode,
                        "wall_s": wall,
                        "date": machine()["date"],  # kept runs (--keep) keep theirs
                        "rounds": result.rounds,
                    }
                )
                # saved after every run: a run stopped part way keeps the seeds it finished
                save_results(runs, args, time.monotonic() - t_all)
                last = result.rounds[-1]
                console.print(
                    f"seed {seed} {mode:>11}: "
                    + "  ".join(f"{r['agreement']:.3f}" for r in result.rounds)
                    + f"  (${float(last['spend_usd']):.4f}, {wall:.0f} s)"
                )
    path, summary = save_results(runs, args, time.monotonic() - t_all)
    rows = [
        [
            r + 1,
            summary["sent"][r],
            f"${summary['spend_usd']['uncertainty'][r]:.4f}",
            _mean_sd(summary["agreement"]["uncertainty"], r),
            f"${summary['spend_usd']['random'][r]:.4f}",
            _mean_sd(summary["agreement"]["random"], r),
        ]
        for r in range(len(summary["sent"]))
    ]
    console.print(
        table(
            f"agreement on the fixed test split, mean of {summary['seeds']} seeds",
            ["round", "sent", "uncertainty $", "uncertainty", "random $", "random"],
            rows,
        )
    )
    console.print(summary["verdict"])
    console.print(f"machine: {machine()['cores']} cores; results → {path}")


SEED_ARGS = ("seeds", "first_seed", "keep", "out", "workdir")


def kept_runs(args: argparse.Namespace, seeds: range) -> list[dict[str, Any]]:
    """The earlier runs of other seeds in the results file, when their settings match."""
    path = (args.out or RESULTS_DIR) / "rounds.json"
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    mine = {k: v for k, v in vars(args).items() if k not in SEED_ARGS}
    theirs = {k: v for k, v in old["settings"].items() if k not in SEED_ARGS}
    if mine != theirs:
        raise SystemExit(f"{path}: --keep: its runs used other settings: {theirs}")
    return [r for r in old["runs"] if r["seed"] not in seeds]


def _mean_sd(stats: dict[str, list[float]], r: int) -> str:
    return f"{stats['mean'][r]:.3f} ± {stats['sd'][r]:.3f}"


def save_results(
    runs: list[dict[str, Any]], args: argparse.Namespace, wall_s: float
) -> tuple[Path, dict[str, Any]]:
    done = [r for r in runs if sum(x["seed"] == r["seed"] for x in runs) == len(MODES)]
    summary = summarise(done, args.rounds) if done else {}
    data = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "workdir")},
        "seeds_finished": len({r["seed"] for r in done}),
        "runs": runs,
        "summary": summary,
        "wall_s": wall_s,
    }
    return save("rounds", data, out_dir=args.out), summary


def summarise(runs: list[dict[str, Any]], n_rounds: int) -> dict[str, Any]:
    """Per round, mean and spread over the seeds; when uncertainty first reaches random's final
    agreement, as a share of random's total spend (on the means, and seed by seed)."""
    seeds = sorted({r["seed"] for r in runs})

    def per_seed(mode: str, key: str) -> list[list[float]]:
        per = {r["seed"]: r["rounds"] for r in runs if r["select"] == mode}
        k = min(len(p) for p in per.values())
        return [[float(per[s][i][key] or 0) for s in seeds] for i in range(k)]

    def spread(values: list[list[float]]) -> dict[str, list[float]]:
        return {
            "mean": [statistics.fmean(v) for v in values],
            "sd": [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values],
            "min": [min(v) for v in values],
            "max": [max(v) for v in values],
        }

    agreement = {m: spread(per_seed(m, "agreement")) for m in MODES}
    accuracy = {m: spread(per_seed(m, "accuracy")) for m in MODES}
    spend = {m: [statistics.fmean(v) for v in per_seed(m, "spend_usd")] for m in MODES}
    sent = [int(statistics.fmean(v)) for v in per_seed("random", "sent")]

    def reach(unc: list[float], rnd: list[float], unc_usd: list[float], rnd_usd: float) -> Any:
        i = next((i for i, a in enumerate(unc) if a >= rnd[-1]), None)
        return None if i is None else {"round": i + 1, "share": unc_usd[i] / rnd_usd}

    mean_unc, mean_rnd = agreement["uncertainty"]["mean"], agreement["random"]["mean"]
    on_means = reach(mean_unc, mean_rnd, spend["uncertainty"], spend["random"][-1])
    by_seed = {}
    for s in seeds:
        curves = {r["select"]: r["rounds"] for r in runs if r["seed"] == s}
        unc = [float(x["agreement"] or 0) for x in curves["uncertainty"]]
        rnd = [float(x["agreement"] or 0) for x in curves["random"]]
        usd = [float(x["spend_usd"]) for x in curves["uncertainty"]]
        by_seed[str(s)] = {
            "reach": reach(unc, rnd, usd, float(curves["random"][-1]["spend_usd"])),
            "ends_higher": unc[-1] > rnd[-1],
        }
    ends_higher = mean_unc[-1] > mean_rnd[-1]
    share = on_means["share"] if on_means else None
    verdict = (
        f"mean of {len(seeds)} seeds: random ends at {mean_rnd[-1]:.3f}; uncertainty "
        + (
            f"reaches it in round {on_means['round']}, with {share:.0%} of random's spend"
            if on_means
            else "never reaches it"
        )
        + f", and ends at {mean_unc[-1]:.3f} "
        + ("(higher)" if ends_higher else "(not higher)")
        + ". Target (<= 60% of the spend, ends higher): "
        + ("met" if share is not None and share <= 0.6 and ends_higher else "not met")
    )
    return {
        "seeds": len(seeds),
        "sent": sent,
        "agreement": agreement,
        "accuracy": accuracy,
        "spend_usd": spend,
        "spend_share_to_reach_random_final": share,
        "reach_by_seed": by_seed,
        "uncertainty_ends_higher": ends_higher,
        "verdict": verdict,
    }


if __name__ == "__main__":
    main()
