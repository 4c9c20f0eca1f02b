"""Peak memory of harvest and build as the number of inputs grows: it should stay flat.

Each measurement runs in a fresh child process (`--child`), which reports its own peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`), so that one phase's memory never hides in
another's. The simulated teacher runs in a process of its own (answering at once, no limits)
and is not counted. Phases:

- `journal`: what `distill harvest` does before the first request: every input line read,
  validated, rendered and written to the journal (`Journal.add_items`), for `--sizes`;
- `harvest`: a whole `distill harvest` (journal phase, then every request sent and
  journaled), for `--harvest-sizes`: the sim answers at a few hundred requests a second on
  2 cores, so a million requests would take over an hour; the send loop holds a bounded
  queue and pages through pending rows, so the sizes it is run at show whether it is flat;
- `build`: `distill build` (journal → filters → dataset on disk), for `--sizes`, over a
  journal whose items are marked answered in bulk by SQL (`fill`, not timed or counted): the
  rows are what a harvest writes, without waiting an hour for the teacher;
- `floor`: the same imports and nothing else (Python + the libraries), for reference.

    python benchmarks/memory_at_scale.py                    # 100K and 1M; harvest 10K and 100K
    python benchmarks/memory_at_scale.py --sizes 100000 --harvest-sizes 100000

Inputs are varied tickets (random words from a fixed vocabulary) so that the near-duplicate
filter keeps most of them, as it would real inputs. Target: 1M within 1.2x of 100K, < 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

TARGET_GROWTH = 1.2
TARGET_MB = 400.0
WATCH_S = 60  # seconds between progress lines of a running phase
LABELS = common.TEMPLATE["output"]["labels"]  # type: ignore[index]


# --------------------------------------------------------------------------- inputs


def _vocabulary(n: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def write_varied_inputs(path: Path, n: int, seed: int = 0) -> None:
    """`n` tickets of 12-20 random words: near duplicates are rare, as in real inputs."""
    rng = random.Random(seed)
    words = _vocabulary(5000, rng)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choices(words, k=rng.randint(12, 20)))
            f.write(json.dumps({"id": i, "text": text}) + "\n")


def fill_journal(journal_path: Path) -> int:
    """Mark every journaled item answered, as a harvest would have (one attempt each)."""
    import sqlite3

    db = sqlite3.connect(journal_path, isolation_level=None)
    now = time.time()
    cases = " ".join(f"WHEN {i} THEN '{label}'" for i, label in enumerate(LABELS))
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO runs (started_at, ended_at, status, provider, model, orphaned_usd) "
        "VALUES (?, ?, 'finished', 'openai', 'sim-teacher', '0')",
        (now, now),
    )
    run_id = db.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    db.execute(
        f"UPDATE items SET state = 'done', response_text = CASE line % {len(LABELS)} {cases} END, "
        "finish_reason = 'stop', input_tokens = 40, output_tokens = 2, cached_input_tokens = 0, "
        "cost_usd = '0.0000072', latency_s = 0.2, attempts = 1, updated_at = ?",
        (now,),
    )
    db.execute(
        "INSERT INTO attempts (key, run_id, started_at, ended_at, outcome, status, input_tokens, "
        "output_tokens, cost_usd) SELECT key, ?, ?, ?, 'ok', 200, 40, 2, '0.0000072' FROM items",
        (run_id, now, now),
    )
    db.execute("COMMIT")
    n = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    db.close()
    return int(n)


# --------------------------------------------------------------------------- the child


def child(phase: str, config: Path) -> dict[str, Any]:
    """One phase, in this (fresh) process; returns its figures and peak RSS."""
    from synth.config import load_config
    from synth.harvest.engine import harvest, iter_items, plan
    from synth.journal.store import Journal

    if phase == "build":
        from synth.dataset.builder import (
            build,  # its imports (datasets, numpy) count for the build only
        )

    cfg = load_config(config)
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if phase == "journal":
        with Journal(cfg.journal_path) as j:
            extra["items"] = j.add_items(iter_items(plan(cfg)))
    elif phase == "harvest":
        result = harvest(cfg)
        extra["items"] = result.stats.done
        extra["failed"] = result.stats.failed
    elif phase == "build":
        result = build(cfg)
        extra["items"] = result.funnel.items_in
        extra["kept"] = result.funnel.kept
    elif phase == "floor":
        pass
    else:
        raise SystemExit(f"unknown phase {phase}")
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"phase": phase, "wall_s": wall, "peak_rss_mb": peak_kb / 1024, **extra}


def run_child(phase: str, config: Path, timeout: float | None = None) -> dict[str, Any]:
    """Run one phase in a fresh process; every `WATCH_S` print its peak RSS so far (and, for a
    harvest, how many items are answered), so that a long run shows its trend as it goes."""
    env = {**os.environ, common.KEY_ENV: os.environ.get(common.KEY_ENV, "sk-bench")}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", phase, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    t0 = time.monotonic()
    while True:
        try:
            stdout, stderr = proc.communicate(timeout=WATCH_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - t0
            if timeout is not None and elapsed > timeout:
                proc.kill()
                raise
            common.console.print(f"  {phase}: {elapsed:,.0f} s, {_watch(proc.pid, phase, config)}")
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} child failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _watch(pid: int, phase: str, config: Path) -> str:
    """A running child's peak RSS so far, and the items answered (a harvest's journal)."""
    import sqlite3

    from synth.config import load_config

    parts = []
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        parts.append(f"peak RSS so far {int(hwm.split()[1]) / 1024:.1f} MB")
    except (OSError, StopIteration):
        pass
    if phase == "harvest":
        try:
            path = load_config(config).journal_path
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            done = db.execute("SELECT COUNT(*) FROM items WHERE state = 'done'").fetchone()[0]
            db.close()
            parts.append(f"{done:,} answered")
        except sqlite3.Error:
            pass
    return ", ".join(parts) or "running"


# --------------------------------------------------------------------------- the parent


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from synth.sim.runner import SimServer

    out: dict[str, Any] = {"journal": {}, "build": {}, "harvest": {}, "floor": None}
    sizes = sorted(set(args.sizes))
    harvest_sizes = sorted(set(args.harvest_sizes))
    with SimServer(process=True) as sim:
        url = sim.openai_base_url
        floor_cfg = common.make_run(work / "floor", url, n=1)
        out["floor"] = run_child("floor", floor_cfg)
        for n in sizes:
            folder = work / f"n{n}"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            write_varied_inputs(folder / "inputs.jsonl", n)
            common.console.print(f"{n:,} inputs written in {time.perf_counter() - t0:.1f} s")
            config = common.make_run(folder, url, n=n, inputs=folder / "inputs.jsonl")
            out["journal"][n] = run_child("journal", config)
            common.console.print(f"  journal: {out['journal'][n]}")
            if not args.no_build:
                from synth.config import load_config

                fill_journal(load_config(config).journal_path)
                out["build"][n] = run_child("build", config)
                common.console.print(f"  build:   {out['build'][n]}")
            if not args.keep:
                for p in sorted(folder.rglob("*"), reverse=True):
                    p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
        for n in harvest_sizes:
            folder = work / f"h{n}"
            folder.mkdir(parents=True, exist_ok=True)
            write_varied_inputs(folder / "inputs.jsonl", n)
            config = common.make_run(folder, url, n=n, inputs=folder / "inputs.jsonl")
            sim.reset()
            out["harvest"][n] = run_child("harvest", config)
            common.console.print(f"  harvest: {out['harvest'][n]}")
    return out


def _growth(by_size: dict[int, dict[str, Any]]) -> float | None:
    if len(by_size) < 2:
        return None
    lo, hi = min(by_size), max(by_size)
    return by_size[hi]["peak_rss_mb"] / by_size[lo]["peak_rss_mb"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--harvest-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--no-build", action="store_true", help="journal (and harvest) only")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (--workdir)")
    parser.add_argument("--child", metavar="PHASE", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.config)))
        return {}
    if args.smoke:
        args.sizes, args.harvest_sizes = [200, 1000], [100]
        global WATCH_S
        WATCH_S = 0.5  # the progress lines run too

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        fig = measure(args, args.workdir or Path(tmp))
    total_s = time.perf_counter() - t0

    rows = []
    for phase in ("journal", "harvest", "build"):
        for n, r in sorted(fig[phase].items()):
            rows.append((phase, n, r["peak_rss_mb"], r["wall_s"], n / r["wall_s"]))
    rows.append(("floor (imports only)", None, fig["floor"]["peak_rss_mb"], None, None))
    common.console.print(
        common.table(
            "memory at scale: peak RSS of each phase in its own process",
            ["phase", "inputs", "peak RSS MB", "wall s", "items/s"],
            rows,
        )
    )
    verdicts = {}
    for phase in ("journal", "harvest", "build"):
        if not fig[phase]:
            continue
        growth = _growth(fig[phase])
        peak = max(r["peak_rss_mb"] for r in fig[phase].values())
        ok = (growth is None or growth <= TARGET_GROWTH) and peak < TARGET_MB
        verdicts[phase] = {"growth": growth, "peak_mb": peak, "meets": ok}
        sizes = sorted(fig[phase])
        span = f"{sizes[-1]:,} vs {sizes[0]:,}" if len(sizes) > 1 else f"{sizes[0]:,} only"
        common.console.print(
            f"{phase}: peak {peak:.0f} MB, growth {growth or 1:.2f}x ({span}): "
            + ("meets" if ok else "MISSES")
            + f" the target (<= {TARGET_GROWTH}x, < {TARGET_MB:.0f} MB)"
        )
    data = {
        "sizes": sorted(set(args.sizes)),
        "harvest_sizes": sorted(set(args.harvest_sizes)),
        "target": {"growth": TARGET_GROWTH, "peak_mb": TARGET_MB},
        "total_wall_s": total_s,
        **fig,
        "verdicts": verdicts,
    }
    path = common.save("memory_at_scale", data, args.out, argv)
    common.console.print(f"figures: {path} ({total_s:.0f} s in all)")
    return data


if __name__ == "__main__":
    main()
