"""How close to a provider's rate limit a harvest runs, and how often it is told off (429).

The simulated teacher answers in 100-300 ms and enforces an RPM limit the way providers do,
over short windows (a token bucket holding `--burst-s` seconds of the rate: 1,200 RPM is 20
requests a second, not 1,200 in the first second). In one run, against the same sim:

- distill with `teacher.rpm` set to the limit;
- distill with no `rpm` at all, left to learn the limit from the rate-limit headers and 429s;
- the baseline: `asyncio` + a semaphore over the bare `AsyncOpenAI` client with its default
  retries (two, honouring `retry-after-ms`), what most users write.

The sim is the referee: the achieved rate is measured from the times it billed answers, the
429s from its counters. The steady rate leaves out the first `burst-s` seconds (the bucket
starts full, so any client gets one burst for free); the overall rate includes them.

    python benchmarks/harvest_at_limit.py                      # 1,200 RPM, 1,200 requests each
    python benchmarks/harvest_at_limit.py --rpm 3000 -n 3000 --concurrency 64

Target: distill at >= 0.97 of the limit with < 1% of its requests answered 429.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

TARGET_RATE = 0.97
TARGET_429 = 0.01


def referee(sim: Any, limit_rpm: float, burst_s: float) -> dict[str, Any]:
    """The sim's view of one client's run: achieved rates (share of the limit) and 429s."""
    ledger = sim.ledger(entries=True)
    times = sorted(e["t"] for e in ledger["entries"])
    c = ledger["counters"]
    per_s = limit_rpm / 60
    out: dict[str, Any] = {
        "answered": len(times),
        "received": c["received"],
        "rate_limited": c["rate_limited"],
        "share_429": c["rate_limited"] / c["received"] if c["received"] else 0.0,
        "retry_after_violations": c["retry_after_violations"],
        "overall_rps": None,
        "steady_rps": None,
    }
    if len(times) >= 2 and times[-1] > times[0]:
        out["overall_rps"] = (len(times) - 1) / (times[-1] - times[0])
        start = times[0] + burst_s
        steady = [t for t in times if t >= start]
        if len(steady) >= 2 and times[-1] > start:
            out["steady_rps"] = len(steady) / (times[-1] - start)
    out["overall_fraction"] = out["overall_rps"] / per_s if out["overall_rps"] else None
    out["steady_fraction"] = out["steady_rps"] / per_s if out["steady_rps"] else None
    return out


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from synth.sim.runner import SimServer

    lo, hi = args.latency_ms
    runs: dict[str, dict[str, Any]] = {}
    with SimServer(
        process=True, latency_ms=(lo, hi), rpm=args.rpm, burst_s=args.burst_s, seed=1
    ) as sim:
        url = sim.openai_base_url
        # warm imports and the first connection without touching the limit's measurement
        common.run_distill(common.make_run(work / "warm", url, n=2))
        inputs = work / "inputs.jsonl"
        common.write_inputs(inputs, args.requests)
        cases = [
            ("distill, rpm set", {"rpm": args.rpm}),
            ("distill, rpm unset (headers, 429s)", {}),
        ]
        for i, (label, teacher) in enumerate(cases):
            time.sleep(args.burst_s * 1.5)  # the sim's bucket refills: every client starts alike
            sim.reset()
            config = common.make_run(
                work / f"case{i}",
                url,
                n=args.requests,
                inputs=inputs,
                teacher={"concurrency": args.concurrency, **teacher},
            )
            result, wall = common.run_distill(config)
            runs[label] = {
                **referee(sim, args.rpm, args.burst_s),
                "wall_s": wall,
                "failed": result.stats.failed,
                "client_429s": result.stats.rate_limited,
            }
        time.sleep(args.burst_s * 1.5)
        sim.reset()
        b = common.run_baseline(url, args.requests, concurrency=args.concurrency)
        runs["bare SDK (asyncio + semaphore, default retries)"] = {
            **referee(sim, args.rpm, args.burst_s),
            "wall_s": b.wall_s,
            "failed": b.failed,
            "client_errors": b.errors,
        }
    return runs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=1200, help="requests per client")
    parser.add_argument("--rpm", type=float, default=1200.0, help="the sim's limit")
    parser.add_argument("--burst-s", type=float, default=1.0, help="the sim's window, seconds")
    parser.add_argument(
        "--latency-ms", type=float, nargs=2, default=(100.0, 300.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--concurrency", type=int, default=32, help="for every client")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        # a window of 10 requests (not 100): the baseline meets the limit within a second too
        args.requests, args.rpm, args.burst_s, args.latency_ms = 100, 3000.0, 0.2, (10.0, 30.0)

    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        runs = measure(args, args.workdir or Path(tmp))

    limit_rps = args.rpm / 60
    rows = [
        (
            label,
            r["answered"],
            r["failed"],
            r["steady_rps"],
            r["steady_fraction"],
            r["overall_fraction"],
            r["rate_limited"],
            f"{r['share_429']:.1%}",
            r["wall_s"],
        )
        for label, r in runs.items()
    ]
    common.console.print(
        common.table(
            f"harvest at the limit: {args.requests:,} requests per client, limit {args.rpm:,.0f} "
            f"RPM ({limit_rps:g}/s, {args.burst_s:g} s window), latency "
            f"{args.latency_ms[0]:g}-{args.latency_ms[1]:g} ms, concurrency {args.concurrency}",
            [
                "client",
                "answered",
                "failed",
                "steady req/s",
                "steady / limit",
                "overall / limit",
                "429s",
                "429 share",
                "wall s",
            ],
            rows,
        )
    )
    verdicts = {}
    for label, r in runs.items():
        if not label.startswith("distill"):
            continue
        ok = (r["steady_fraction"] or 0) >= TARGET_RATE and r["share_429"] < TARGET_429
        verdicts[label] = ok
        common.console.print(
            f"{label}: {r['steady_fraction'] or 0:.3f} of the limit, {r['share_429']:.2%} 429s: "
            + ("meets" if ok else "MISSES")
            + f" the target (>= {TARGET_RATE} with < {TARGET_429:.0%})"
        )
    base = runs["bare SDK (asyncio + semaphore, default retries)"]
    common.console.print(
        f"bare SDK: {base['answered']:,} of {args.requests:,} answered, {base['failed']:,} "
        f"failed once its retries ran out; {base['rate_limited']:,} 429s "
        f"({base['share_429']:.0%} of what it sent)"
    )
    for label, r in runs.items():
        if label.startswith("distill") and base["steady_rps"] and r["steady_rps"]:
            common.console.print(
                f"{label} / bare SDK: {r['answered'] / max(base['answered'], 1):.1f}x the "
                f"answers, {r['steady_rps'] / base['steady_rps']:.2f}x the steady rate, "
                f"{r['rate_limited']} vs {base['rate_limited']:,} 429s"
            )
    data = {
        "requests": args.requests,
        "limit_rpm": args.rpm,
        "burst_s": args.burst_s,
        "latency_ms": list(args.latency_ms),
        "concurrency": args.concurrency,
        "target": {"fraction": TARGET_RATE, "share_429": TARGET_429},
        "runs": runs,
        "meets_target": verdicts,
    }
    path = common.save("harvest_at_limit", data, args.out, argv)
    common.console.print(f"figures: {path}")
    return data


if __name__ == "__main__":
    main()
