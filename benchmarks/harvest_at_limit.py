"""A harvest on a real wire, side by side: distill, bespokelabs-curator and the bare SDK loop
against the same simulated teacher, in the same run, in three scenarios:

- clean: at the rate limit (a token bucket of `--burst-s` seconds, as providers enforce
  per-minute limits over short windows), latency 100-300 ms;
- sporadic: the same, plus a quarter of requests answered 429 (retry-after 1 s, well under
  the limit), 500, 503 or a dropped connection;
- timeouts: latency 0.2-2.0 s against a 1 s client timeout; the teacher bills every answer it
  generates, whether or not the client still waits (as providers do).

Clients: distill with `teacher.rpm` set to the limit; distill with no `rpm` (the limit learnt
from the rate-limit headers); curator 0.1.31 (`max_requests_per_minute` = the limit) in its own
virtual environment (`--curator-python`, see benchmarks/peers/curator_peer.py); the bare
`AsyncOpenAI` loop (asyncio + a semaphore, the SDK's default two retries).

The sim referees: rates from the times it billed answers, 429s (the limit's, not the injected
ones) from its counters, answers billed twice from its ledger (the same request body billed
more than once), and its bill against the cost the tool itself reports (distill: settled, and
settled + possibly billed, the worst case of attempts of unknown outcome).

    python benchmarks/harvest_at_limit.py --curator-python VENV/bin/python
    python benchmarks/harvest_at_limit.py --smoke          # tiny, distill and the SDK only

Targets (measured, not asserted): clean >= 0.97 of the limit with < 1% 429s; sporadic >= 0.9
of distill's own clean throughput and at least as fast as curator; no `rpm` within 5% of `rpm`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

TARGET_RATE = 0.97
TARGET_429 = 0.01
PEER = Path(__file__).resolve().parent / "peers" / "curator_peer.py"
#: integer prices: curator takes whole dollars per million tokens
PRICE_IN, PRICE_OUT = 2, 8

SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {"sim": {}, "timeout_s": 60.0},
    "sporadic": {
        "sim": {
            "fault_429": 0.0625,
            "fault_500": 0.0625,
            "fault_503": 0.0625,
            "fault_drop": 0.0625,
            "fault_retry_after_s": 1.0,
        },
        "timeout_s": 60.0,
    },
    "timeouts": {"sim": {"latency_ms": (200.0, 2000.0)}, "timeout_s": 1.0},
}


def referee(sim: Any, limit_rpm: float, burst_s: float) -> dict[str, Any]:
    """The sim's view of one client's run."""
    ledger = sim.ledger(entries=True)
    entries = ledger["entries"]
    times = sorted(e["t"] for e in entries)
    c = ledger["counters"]
    per_s = limit_rpm / 60
    hashes = Counter(e["body_hash"] for e in entries)
    out: dict[str, Any] = {
        "billed": len(entries),
        "answers_billed_twice": sum(1 for n in hashes.values() if n > 1),
        "received": c["received"],
        "rate_limited": c["rate_limited"],
        "share_429": c["rate_limited"] / c["received"] if c["received"] else 0.0,
        "injected_faults": sum(c["faults"].values()),
        "abandoned": c["abandoned"],
        "retry_after_violations": c["retry_after_violations"],
        "server_bill_usd": ledger["totals"]["cost_usd"],
        "steady_rps": None,
        "overall_rps": None,
    }
    if len(times) >= 2 and times[-1] > times[0]:
        out["overall_rps"] = (len(times) - 1) / (times[-1] - times[0])
        start = times[0] + burst_s
        steady = [t for t in times if t >= start]
        if len(steady) >= 2 and times[-1] > start:
            out["steady_rps"] = len(steady) / (times[-1] - start)
    out["steady_fraction"] = out["steady_rps"] / per_s if out["steady_rps"] else None
    out["overall_fraction"] = out["overall_rps"] / per_s if out["overall_rps"] else None
    return out


def _distill(work: Path, url: str, inputs: Path, n: int, teacher: dict[str, Any]) -> dict[str, Any]:
    from synth.journal.store import Journal

    config = common.make_run(
        work,
        url,
        n=n,
        inputs=inputs,
        teacher={
            "price": {"input_per_mtok": PRICE_IN, "output_per_mtok": PRICE_OUT},
            "max_attempts": 10,
            **teacher,
        },
    )
    result, wall = common.run_distill(config)
    from synth.config import load_config

    with Journal(load_config(config).journal_path, readonly=True) as j:
        t = j.totals()
    return {
        "wall_s": wall,
        "answered": result.stats.done,
        "failed": result.stats.failed,
        "tool_cost_usd": str(t["cost_usd"]),
        "tool_counted_usd": str(t["cost_usd"] + t["possibly_billed_usd"]),
    }


def _curator(
    python: str, url: str, n: int, rpm: float, concurrency: int, timeout_s: float
) -> dict[str, Any]:
    spec = {
        "base_url": url,
        "n": n,
        "rpm": rpm,
        "concurrency": concurrency,
        "timeout_s": max(1, int(timeout_s)),
        "max_retries": 10,
        "in_mtok_cost": PRICE_IN,
        "out_mtok_cost": PRICE_OUT,
        "max_tokens": common.MAX_TOKENS,
    }
    t0 = time.perf_counter()
    r = subprocess.run(
        [python, str(PEER), json.dumps(spec)], capture_output=True, text=True, timeout=900
    )
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("CURATOR_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"curator peer failed ({r.returncode}): {r.stderr[-2000:]}")
    got = json.loads(line.removeprefix("CURATOR_RESULT "))
    return {
        "wall_s": got["wall_s"],
        "process_s": time.perf_counter() - t0,
        "answered": got["answered"],
        "failed": got["failed"],
        "tool_cost_usd": None if got["cost_usd"] is None else f"{got['cost_usd']:.6f}",
        "tool_counted_usd": None,
    }


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from synth.sim.runner import SimServer

    out: dict[str, Any] = {}
    for name in args.scenarios:
        sc = SCENARIOS[name]
        knobs = {"latency_ms": tuple(args.latency_ms), **sc["sim"]}
        n = args.requests // 2 if name == "timeouts" else args.requests
        runs: dict[str, dict[str, Any]] = {}
        with SimServer(
            process=True,
            rpm=args.rpm,
            burst_s=args.burst_s,
            seed=1,
            answers="tickets",
            price_input_per_mtok=PRICE_IN,
            price_output_per_mtok=PRICE_OUT,
            **knobs,
        ) as sim:
            url = sim.openai_base_url
            common.run_distill(common.make_run(work / f"{name}-warm", url, n=2))
            inputs = work / f"{name}-inputs.jsonl"
            common.write_inputs(inputs, n)
            teacher = {"concurrency": args.concurrency, "timeout_s": sc["timeout_s"]}
            clients: list[tuple[str, Any]] = [
                (
                    "distill, rpm set",
                    partial(
                        _distill, work / f"{name}-rpm", url, inputs, n, {**teacher, "rpm": args.rpm}
                    ),
                ),
                (
                    "distill, no rpm (headers)",
                    partial(_distill, work / f"{name}-headers", url, inputs, n, teacher),
                ),
            ]
            if args.curator_python:
                clients.append(
                    (
                        "curator 0.1.31",
                        partial(
                            _curator,
                            args.curator_python,
                            url,
                            n,
                            args.rpm,
                            args.concurrency,
                            sc["timeout_s"],
                        ),
                    )
                )
            clients.append(("bare SDK loop", partial(_bare, url, n, args.concurrency, sc)))
            for label, run in clients:
                time.sleep(args.burst_s * 1.5)  # the bucket refills: every client starts alike
                sim.reset()
                got = run()
                runs[label] = {**referee(sim, args.rpm, args.burst_s), **got}
        out[name] = {
            "requests": n,
            "sim": {k: list(v) if isinstance(v, tuple) else v for k, v in knobs.items()},
            "timeout_s": sc["timeout_s"],
            "runs": runs,
        }
    return out


def _bare(url: str, n: int, concurrency: int, sc: dict[str, Any]) -> dict[str, Any]:
    b = common.run_baseline(url, n, concurrency=concurrency, timeout=sc["timeout_s"])
    return {
        "wall_s": b.wall_s,
        "answered": b.ok,
        "failed": b.failed,
        "tool_cost_usd": None,
        "tool_counted_usd": None,
        "client_errors": b.errors,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=400, help="requests per client")
    parser.add_argument("--rpm", type=float, default=1200.0, help="the sim's limit")
    parser.add_argument("--burst-s", type=float, default=1.0, help="the sim's window, seconds")
    parser.add_argument(
        "--latency-ms", type=float, nargs=2, default=(100.0, 300.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--concurrency", type=int, default=32, help="for every client")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--curator-python",
        default=None,
        help="the python of a venv with bespokelabs-curator==0.1.31 (none: curator left out)",
    )
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.rpm, args.burst_s, args.latency_ms = 100, 3000.0, 0.2, (10.0, 30.0)
        args.scenarios, args.curator_python = ["clean"], None

    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        scenarios = measure(args, args.workdir or Path(tmp))

    for name, sc in scenarios.items():
        rows = [
            (
                label,
                r["answered"],
                r["failed"],
                r["wall_s"],
                r["steady_fraction"],
                r["rate_limited"],
                r["answers_billed_twice"],
                r["tool_cost_usd"],
                r["tool_counted_usd"],
                r["server_bill_usd"],
            )
            for label, r in sc["runs"].items()
        ]
        common.console.print(
            common.table(
                f"{name}: {sc['requests']:,} requests per client, limit {args.rpm:,.0f} RPM "
                f"({args.burst_s:g} s window), timeout {sc['timeout_s']:g} s, sim {sc['sim']}",
                [
                    "client",
                    "answered",
                    "failed",
                    "wall s",
                    "steady / limit",
                    "429s (limit)",
                    "billed twice",
                    "tool's cost $",
                    "tool counts $",
                    "server bill $",
                ],
                rows,
            )
        )
    verdicts: dict[str, Any] = {}
    clean = scenarios.get("clean", {}).get("runs", {})
    if clean:
        r = clean["distill, rpm set"]
        verdicts["clean_at_limit"] = (r["steady_fraction"] or 0) >= TARGET_RATE and r[
            "share_429"
        ] < TARGET_429
        h = clean["distill, no rpm (headers)"]
        verdicts["headers_within_5pct"] = h["wall_s"] <= 1.05 * r["wall_s"]
    sporadic = scenarios.get("sporadic", {}).get("runs", {})
    if clean and sporadic:
        ratio = clean["distill, rpm set"]["wall_s"] / sporadic["distill, rpm set"]["wall_s"]
        verdicts["sporadic_vs_clean_throughput"] = round(ratio, 3)
        verdicts["sporadic_at_least_0.9_of_clean"] = ratio >= 0.9
        if "curator 0.1.31" in sporadic:
            verdicts["sporadic_as_fast_as_curator"] = (
                sporadic["distill, rpm set"]["wall_s"] <= sporadic["curator 0.1.31"]["wall_s"]
            )
    for k, v in verdicts.items():
        common.console.print(f"{k}: {v}")
    for sc in scenarios.values():
        for r in sc["runs"].values():
            if r["tool_counted_usd"] is not None:
                r["counts_cover_bill"] = Decimal(r["tool_counted_usd"]) >= Decimal(
                    r["server_bill_usd"] or 0
                )
    data = {
        "limit_rpm": args.rpm,
        "burst_s": args.burst_s,
        "concurrency": args.concurrency,
        "target": {"fraction": TARGET_RATE, "share_429": TARGET_429},
        "scenarios": scenarios,
        "verdicts": verdicts,
    }
    path = common.save("harvest_at_limit", data, args.out, argv)
    common.console.print(f"figures: {path}")
    return data


if __name__ == "__main__":
    main()
