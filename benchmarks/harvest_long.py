"""Harvest throughput over a long run: items/s over each tenth of a harvest, so that a
slowdown as the journal grows shows.

Each size is a whole `distill harvest` (`python -m synth.cli harvest CONFIG`, a fresh process)
against the simulated teacher in a process of its own, answering at once with no limits, over
varied inputs (as `memory_at_scale.py` writes them). The rates come from the journal afterwards:
the time each answer's attempt ended (`attempts.ended_at`), from the run's start (after the
journal phase, which is timed apart). A run stopped by `--deadline` (a UTC time, HH:MM) is
recorded as far as it got, with the rate over each hundredth done so far.

    python benchmarks/harvest_long.py                          # 10K, 100K, 1M (over an hour)
    python benchmarks/harvest_long.py --sizes 1000000 --deadline 06:12 --name harvest_long_1m
    python benchmarks/harvest_long.py --from-log results/memory_at_scale.harvest_1m.log

`--from-log` reads the per-minute lines `memory_at_scale.py` prints for a running harvest
("harvest: T s, ..., N answered") and gives the rate between the minutes at which each tenth
of a million was passed (an earlier 1M run's trend, without running it again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.memory_at_scale import write_varied_inputs  # noqa: E402

WATCH_S = 60.0  # seconds between progress lines (and partial results) of a running harvest


def _deadline(hhmm: str | None) -> float | None:
    """A UTC wall-clock time today (HH:MM) as a time.time() stamp."""
    if not hhmm:
        return None
    h, m = (int(x) for x in hhmm.split(":"))
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=h, minute=m, second=0, microsecond=0).timestamp()


def rates(journal: Path, n: int, slices: int) -> dict[str, Any]:
    """Items/s over each 1/`slices` of `n` answers, from the journal (read-only)."""
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT MIN(started_at) FROM runs").fetchone()
        started = row[0] if row else None
        ends = [
            r[0]
            for r in db.execute("SELECT ended_at FROM attempts WHERE outcome = 'ok' ORDER BY id")
        ]
    finally:
        db.close()
    out: dict[str, Any] = {"answered": len(ends), "run_started_at": started, "per_slice": []}
    if started is None or not ends:
        return out
    step = n // slices
    last_t = started
    for k in range(1, slices + 1):
        if k * step > len(ends):
            break
        t = ends[k * step - 1]
        out["per_slice"].append(
            {"upto": k * step, "wall_s": t - last_t, "items_per_s": step / (t - last_t)}
        )
        last_t = t
    out["harvest_wall_s"] = ends[-1] - started
    out["items_per_s"] = len(ends) / (ends[-1] - started) if ends[-1] > started else None
    return out


def rates_from_log(path: Path, n: int = 1_000_000) -> list[dict[str, Any]]:
    """Items/s over each tenth of `n`, between the first progress lines past each boundary."""
    points = []
    for line in path.read_text().splitlines():
        m = re.search(r"harvest: ([\d,]+) s, .*?([\d,]+) answered", line)
        if m:
            points.append((float(m[1].replace(",", "")), int(m[2].replace(",", ""))))
    out, last = [], next(((t, d) for t, d in points if d > 0), None)
    if last is None:
        return out
    for k in range(1, 11):
        past = next(((t, d) for t, d in points if d >= k * n // 10), None)
        if past is None:
            break
        if past[0] > last[0]:
            rate = (past[1] - last[1]) / (past[0] - last[0])
            out.append({"upto": past[1], "from": last[1], "items_per_s": rate})
        last = past
    return out


def one(work: Path, url: str, n: int, deadline: float | None) -> dict[str, Any]:
    folder = work / f"h{n}"
    folder.mkdir(parents=True, exist_ok=True)
    write_varied_inputs(folder / "inputs.jsonl", n)
    config = common.make_run(folder, url, n=n, inputs=folder / "inputs.jsonl")
    from synth.config import load_config

    journal = load_config(config).journal_path
    env = {**os.environ, "PYTHONPATH": str(common.REPO)}
    log = (folder / "harvest.log").open("w")
    t0 = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "synth.cli", "harvest", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=common.REPO,
    )
    stopped = False
    while True:
        try:
            proc.wait(timeout=WATCH_S)
            break
        except subprocess.TimeoutExpired:
            now = time.time()
            try:
                got = rates(journal, n, 100)["answered"]
            except sqlite3.Error:
                got = None
            common.console.print(f"  {n:,}: {now - t0:,.0f} s, {got:,} answered" if got else "")
            if deadline is not None and now > deadline:
                proc.terminate()  # a clean stop, as Ctrl-C: the journal keeps what is answered
                proc.wait(timeout=120)
                stopped = True
                break
    log.close()
    r = rates(journal, n, 100 if stopped else 10)
    r["complete"] = r["answered"] == n
    r["stopped_at_deadline"] = stopped
    r["journal_phase_s"] = (r["run_started_at"] - t0) if r["run_started_at"] else None
    r["exit_code"] = proc.returncode
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--deadline", help="UTC HH:MM: stop a run still going then, record it")
    parser.add_argument("--name", default="harvest_long", help="results/<name>.json")
    parser.add_argument("--from-log", type=Path, help="an earlier run's progress lines")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.from_log:
        slices = rates_from_log(args.from_log)
        for s in slices:
            common.console.print(f"{s['from']:,} -> {s['upto']:,}: {s['items_per_s']:.0f} items/s")
        return {"from_log": str(args.from_log), "per_slice": slices}
    if args.smoke:
        args.sizes = [300]
    from synth.sim.runner import SimServer

    deadline = _deadline(args.deadline)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = args.workdir or Path(tmp)
        with SimServer(process=True) as sim:
            for n in args.sizes:
                sim.reset()
                out[str(n)] = one(work, sim.openai_base_url, n, deadline)
                r = out[str(n)]
                common.console.print(
                    f"{n:,}: {r['answered']:,} answered, {r.get('items_per_s') or 0:.0f} items/s; "
                    "per slice: " + ", ".join(f"{s['items_per_s']:.0f}" for s in r["per_slice"])
                )
                common.save(
                    args.name,
                    {"sizes": args.sizes, "runs": out},
                    args.out,
                    argv,
                    script="harvest_long",
                )
                if deadline is not None and time.time() > deadline:
                    break
    return out


if __name__ == "__main__":
    main()
