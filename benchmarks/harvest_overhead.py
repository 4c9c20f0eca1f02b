"""What distill's bookkeeping costs: requests/s of `distill harvest` against the bare-SDK loop.

The simulated teacher answers at once and enforces no limit, in its own process (so that it
does not share the client's GIL): whatever separates the two rates is the client's own work.
distill does all it always does (inputs checked and journaled, in-flight and done rows
written per request, the limiter, retries armed, money reserved and settled); the baseline
(`benchmarks.common.baseline_loop`) is `asyncio` + a semaphore over the bare `AsyncOpenAI`
client, with the same concurrency and the same client library.

    python benchmarks/harvest_overhead.py                 # 5,000 requests x 5 rounds
    python benchmarks/harvest_overhead.py -n 20000 --rounds 5 --concurrency 64
    python benchmarks/harvest_overhead.py --profile       # + a pyinstrument profile of distill

Rounds alternate baseline and distill; the table shows each round and the median. Besides the
wall-clock rate, the client's CPU time per request is reported: on a busy machine (or with
the sim on the same core) it is the steadier figure. Target: distill/baseline >= 0.8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

TARGET = 0.8


def _span_s(journal_path: Path) -> float:
    """First request sent to last answer received, from the journal's attempts."""
    from synth.journal.queries import attempts_span_s
    from synth.journal.store import Journal

    with Journal(journal_path, readonly=True) as j:
        return attempts_span_s(j)


def measure(n: int, rounds: int, concurrency: int, work: Path, profile: bool) -> dict[str, Any]:
    from synth.sim.runner import SimServer

    rows: list[dict[str, Any]] = []
    profile_path = None
    with SimServer(process=True) as sim:
        url = sim.openai_base_url
        # warm both paths (imports, first connections) before anything is timed
        common.run_baseline(url, 50, concurrency=concurrency)
        common.run_distill(common.make_run(work / "warm", url, n=50))
        inputs = work / "inputs.jsonl"
        common.write_inputs(inputs, n)
        for k in range(rounds):
            profiled = profile and k == rounds - 1
            # the order alternates (a machine that slows down over a round hurts both alike)
            order = ("baseline", "distill") if k % 2 == 0 else ("distill", "baseline")
            for who in order:
                sim.reset()
                if who == "baseline":
                    c0 = time.process_time()
                    b = common.run_baseline(url, n, concurrency=concurrency)
                    b_cpu = time.process_time() - c0
                    assert b.ok == n, f"baseline: {b.failed} failed ({b.errors})"
                    continue
                config = common.make_run(
                    work / f"round{k}",
                    url,
                    n=n,
                    inputs=inputs,
                    teacher={"concurrency": concurrency},
                )
                profiler = None
                if profiled:
                    from pyinstrument import Profiler

                    profiler = Profiler(async_mode="disabled")
                    profiler.start()
                c0 = time.process_time()
                result, d_wall = common.run_distill(config)
                d_cpu = time.process_time() - c0
                if profiler is not None:
                    profiler.stop()
                    profile_path = work / "harvest_overhead.profile.txt"
                    profile_path.write_text(profiler.output_text(unicode=False, color=False))
                assert result.stats.done == n, f"distill: {result.stats.failed} failed"
            from synth.config import load_config

            send_s = _span_s(load_config(config).journal_path)
            rows.append(
                {
                    "round": k + 1,
                    "baseline_rps": n / b.wall_s,
                    "distill_rps": n / d_wall,
                    "distill_send_rps": n / send_s,
                    "baseline_cpu_ms": b_cpu / n * 1000,
                    "distill_cpu_ms": d_cpu / n * 1000,
                    "profiled": profiled,
                }
            )
    timed = [r for r in rows if not r["profiled"]] or rows
    med = {
        key: statistics.median(r[key] for r in timed)
        for key in rows[0]
        if key.endswith(("rps", "ms"))
    }
    return {
        "rows": rows,
        "median": med,
        "ratio_rps": med["distill_rps"] / med["baseline_rps"],
        # each round's own ratio, then their median: the pairs ran side by side
        "ratio_rps_paired": statistics.median(r["distill_rps"] / r["baseline_rps"] for r in timed),
        "ratio_send_rps": med["distill_send_rps"] / med["baseline_rps"],
        "ratio_cpu": med["baseline_cpu_ms"] / med["distill_cpu_ms"],
        "profile": str(profile_path) if profile_path else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="profile distill's last round")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.rounds = 200, 1

    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = args.workdir or Path(tmp)
        fig = measure(args.requests, args.rounds, args.concurrency, work, args.profile)
        if fig["profile"]:
            dest = (args.out or common.RESULTS_DIR) / "harvest_overhead.profile.txt"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(Path(fig["profile"]).read_text())
            fig["profile"] = (
                str(dest.relative_to(common.REPO))
                if dest.is_relative_to(common.REPO)
                else str(dest)
            )

    rows = [
        (
            f"round {r['round']}" + (" (profiled)" if r["profiled"] else ""),
            r["baseline_rps"],
            r["distill_rps"],
            r["distill_send_rps"],
            r["baseline_cpu_ms"],
            r["distill_cpu_ms"],
        )
        for r in fig["rows"]
    ]
    m = fig["median"]
    rows.append(
        (
            "median",
            m["baseline_rps"],
            m["distill_rps"],
            m["distill_send_rps"],
            m["baseline_cpu_ms"],
            m["distill_cpu_ms"],
        )
    )
    common.console.print(
        common.table(
            f"harvest overhead: {args.requests:,} requests, concurrency {args.concurrency}, "
            "sim with no latency and no limits (own process)",
            [
                "",
                "bare SDK req/s",
                "distill req/s",
                "distill send-phase req/s",
                "bare SDK CPU ms/req",
                "distill CPU ms/req",
            ],
            rows,
        )
    )
    ok = "meets" if fig["ratio_rps"] >= TARGET else "MISSES"
    common.console.print(
        f"distill / bare SDK: {fig['ratio_rps']:.2f} (whole harvest: inputs checked and "
        f"journaled, then sent; {ok} the {TARGET} target), {fig['ratio_send_rps']:.2f} over "
        f"the send phase alone; median of the rounds' own ratios: {fig['ratio_rps_paired']:.2f}; "
        f"CPU per request: {fig['ratio_cpu']:.2f}"
    )
    data = {
        "requests": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "target_ratio": TARGET,
        **fig,
    }
    path = common.save("harvest_overhead", data, args.out, argv)
    common.console.print(f"figures: {path}")
    return data


if __name__ == "__main__":
    main()
