"""The bill of the demo task three ways: online, online with the prompt cache, and batch.

The demo's task (examples/support-tickets: 1,500 tickets, the `support-ticket` template) is
harvested against the simulated teacher at gpt-4o-mini's table prices, with OpenAI's caching
rules (prefixes from 1,024 tokens, reads at the cached price) and its batch API at half price;
the online and batch rows are uncached (the sim caches nothing there), the bill a user would
get without the cache.
Each figure is the teacher's own bill (the sim's ledger) beside distill's report of it.
A second task is the same one with sixteen worked examples in the template (`examples:`), the
kind of long shared prefix that caching pays for.

    python benchmarks/bill_by_mode.py            # 1,500 tickets a mode
    python benchmarks/bill_by_mode.py --smoke    # 40
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import KEY_ENV, REPO, add_common_args, console, save, table  # noqa: E402

EXAMPLE = REPO / "examples" / "support-tickets"
MODES = {
    "online": {"mode": "online", "prompt_cache": "off"},
    "online + cache": {"mode": "online", "prompt_cache": "auto"},
    "batch": {"mode": "batch", "prompt_cache": "off", "batch_poll_s": 0.05},
}
#: the sim's caching per mode: OpenAI caches by itself, so the uncached rows turn it off there
CACHE_MIN_TOKENS = {"online": 10**9, "online + cache": 1024, "batch": 10**9}
EXAMPLES = 16


def task_template(with_examples: bool) -> dict[str, Any]:
    template = yaml.safe_load((REPO / "prompts" / "support-ticket.yaml").read_text())
    if with_examples:  # the last tickets of the example inputs, with their reference category
        rows = [json.loads(line) for line in (EXAMPLE / "inputs.jsonl").open()][-EXAMPLES:]
        template["examples"] = [
            {"user": f"<ticket>\n{r['text']}\n</ticket>", "assistant": r["category"]} for r in rows
        ]
    return template


def run_mode(work: Path, base_url: str, mode: str, n: int, with_examples: bool) -> dict[str, Any]:
    from synth.config import load_config
    from synth.harvest.cost_report import cost_report
    from synth.harvest.engine import harvest

    folder = work / f"{'fewshot' if with_examples else 'demo'}-{mode.replace(' + ', '-')}"
    (folder / "prompts").mkdir(parents=True)
    (folder / "prompts" / "t.yaml").write_text(yaml.safe_dump(task_template(with_examples)))
    lines = (EXAMPLE / "inputs.jsonl").read_text().splitlines()[:n]
    (folder / "in.jsonl").write_text("\n".join(lines) + "\n")
    cfg = {
        "name": "bill",
        "inputs": "in.jsonl",
        "template": "t",
        "teacher": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": base_url,
            "api_key_env": KEY_ENV,
            "concurrency": 32,
            "params": {"temperature": 0, "max_tokens": 16},
            **MODES[mode],
        },
    }
    (folder / "c.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    run = load_config(folder / "c.yaml")
    harvest(run)
    return cost_report(run)


def main(argv: list[str] | None = None) -> int:
    import os

    from synth.sim.runner import SimServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    n = 40 if args.smoke else 1500
    os.environ.setdefault(KEY_ENV, "sk-bench")
    # gpt-4o-mini's prices, as genai-prices has them (the sim bills what the provider would)
    from synth.harvest.pricing import resolve_price

    price = resolve_price("openai", "gpt-4o-mini", None, base_url=None)
    sim_prices = {
        "price_input_per_mtok": price.input_per_mtok,
        "price_output_per_mtok": price.output_per_mtok,
        "price_cached_input_per_mtok": price.cached_input_per_mtok,
        "price_batch_factor": price.batched().cost(_one_m()) / price.cost(_one_m()),
    }
    results: dict[str, Any] = {"items": n, "rows": []}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for with_examples in (False, True):
            for mode in MODES:
                with SimServer(
                    answers="tickets",
                    latency_ms=(1, 3),
                    cache_min_tokens=CACHE_MIN_TOKENS[mode],
                    **sim_prices,
                ) as sim:
                    report = run_mode(Path(tmp), sim.openai_base_url, mode, n, with_examples)
                    bill = sim.ledger(entries=False)["totals"]
                results["rows"].append(
                    {
                        "task": f"demo + {EXAMPLES} examples" if with_examples else "demo",
                        "mode": mode,
                        "answered": report["succeeded"],
                        "input_tokens": bill["input_tokens"],
                        "cached_input_tokens": bill["cached_input_tokens"],
                        "teacher_bill_usd": bill["cost_usd"],
                        "report_cost_usd": report["cost_usd_exact"],
                        "caching_saved_usd": report["caching_saved_usd"],
                        "batch_saved_usd": report["batch_saved_usd"],
                    }
                )
    rows = results["rows"]
    for r in rows:
        r["equal_to_the_cent"] = Decimal(r["teacher_bill_usd"]).quantize(Decimal("0.01")) == (
            Decimal(r["report_cost_usd"]).quantize(Decimal("0.01"))
        )
    console.print(
        table(
            f"the bill of {n:,} tickets, gpt-4o-mini prices (sim)",
            [
                "task",
                "mode",
                "answered",
                "input tok",
                "cached tok",
                "teacher bill $",
                "report $",
                "caching saved $",
                "batch saved $",
            ],
            [
                (
                    r["task"],
                    r["mode"],
                    r["answered"],
                    r["input_tokens"],
                    r["cached_input_tokens"],
                    f"{Decimal(r['teacher_bill_usd']):.6f}",
                    f"{Decimal(r['report_cost_usd']):.6f}",
                    f"{r['caching_saved_usd']:.6f}",
                    f"{r['batch_saved_usd']:.6f}",
                )
                for r in rows
            ],
        )  # fmt: skip
    )
    path = save("bill_by_mode" + ("_smoke" if args.smoke else ""), results, args.out, argv)
    console.print(f"results: {path}")
    return 0


def _one_m() -> Any:
    from synth.harvest.providers.base import Usage

    return Usage(input_tokens=1_000_000, output_tokens=1_000_000)


if __name__ == "__main__":
    raise SystemExit(main())
