"""Reading a million-row CSV or Parquet file: distill's streaming reader against what a user
would write instead, side by side in one run.

Each measurement runs in a fresh child process (`--child`), which reports its own peak RSS
(`ru_maxrss`), so that one reader's memory never hides in another's. The same rows (varied
tickets: an id, 12-20 random words, a category) are written as CSV, Parquet and JSONL first.
What is measured:

- `distill read`: every record through `synth.inputs.iter_records` (pyarrow's `open_csv` a
  block at a time; Parquet by row batches), counted and dropped, as the harvest consumes them;
- `distill journal`: what `distill harvest` does before its first request: every record read,
  checked, rendered and written to the SQLite journal (`Journal.add_items`);
- `pandas`: `pandas.read_csv(dtype=str)` / `read_parquet`, then `.to_dict("records")`: the
  list of dicts a hand-written harvest script loops over;
- `datasets`: `datasets.load_dataset("csv" | "parquet", split="train")` (it converts the file
  to an Arrow cache first, then memory-maps it; the cache is in the work folder), iterated;
- `floor`: the same imports (distill, pyarrow, pandas, datasets), nothing read: every
  child imports all of them first, so "over floor" is what the reading itself holds.

    python benchmarks/inputs_at_scale.py                  # 1M rows
    python benchmarks/inputs_at_scale.py --rows 100000
    python benchmarks/inputs_at_scale.py --phases distill-read --formats parquet   # one reader
"""

from __future__ import annotations

import argparse
import csv
import json
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

LABELS: list[str] = common.TEMPLATE["output"]["labels"]  # type: ignore[index]
BATCH = 50_000  # rows per Parquet row group, and per write of the generator
FORMATS = ("csv", "parquet")
# (phase, format) in the order they run; the JSONL journal phase is the reference of section 3
MEASURES = [
    ("floor", "csv"),
    *((phase, fmt) for fmt in FORMATS for phase in ("distill-read", "pandas", "datasets")),
    *(("distill-journal", fmt) for fmt in ("jsonl", *FORMATS)),
]


# --------------------------------------------------------------------------- the files


def _rows(n: int, seed: int = 0) -> Any:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    for i in range(n):
        text = " ".join(rng.choices(words, k=rng.randint(12, 20)))
        yield {"id": f"t{i:07d}", "text": text, "category": LABELS[i % len(LABELS)]}


def write_inputs(folder: Path, n: int) -> dict[str, Path]:
    """The same `n` rows as inputs.csv, inputs.parquet and inputs.jsonl, written streaming."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = {fmt: folder / f"inputs.{fmt}" for fmt in ("csv", "parquet", "jsonl")}
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("category", pa.string())])
    with (
        paths["csv"].open("w", encoding="utf-8", newline="") as fc,
        paths["jsonl"].open("w", encoding="utf-8") as fj,
        pq.ParquetWriter(paths["parquet"], schema) as fp,
    ):
        w = csv.DictWriter(fc, fieldnames=["id", "text", "category"])
        w.writeheader()
        batch: list[dict[str, str]] = []
        for row in _rows(n):
            w.writerow(row)
            fj.write(json.dumps(row) + "\n")
            batch.append(row)
            if len(batch) == BATCH:
                fp.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            fp.write_table(pa.Table.from_pylist(batch, schema=schema))
    return paths


# --------------------------------------------------------------------------- the child


def child(phase: str, path: Path, config: Path | None, cache: Path) -> dict[str, Any]:
    """One reader over `path`, in this (fresh) process: rows seen, wall time, peak RSS."""
    fmt = "parquet" if path.suffix == ".parquet" else path.suffix.lstrip(".")
    # each reader's imports come first: the clock times the reading, the RSS counts both
    import datasets
    import pandas as pd

    from synth.config import load_config
    from synth.harvest.engine import iter_items, plan
    from synth.inputs import iter_records
    from synth.journal.store import Journal

    datasets.disable_progress_bars()
    t0 = time.perf_counter()
    rows = 0
    if phase == "distill-read":
        for _ in iter_records(path):
            rows += 1
    elif phase == "distill-journal":
        assert config is not None
        cfg = load_config(config)
        with Journal(cfg.journal_path) as j:
            rows = j.add_items(iter_items(plan(cfg)))
    elif phase == "pandas":
        frame = (
            pd.read_csv(path, dtype=str, keep_default_na=False)
            if fmt == "csv"
            else pd.read_parquet(path)
        )
        records = frame.to_dict("records")
        del frame  # what such a script keeps is the list
        for _ in records:
            rows += 1
    elif phase == "datasets":
        ds = datasets.load_dataset(fmt, data_files=str(path), split="train", cache_dir=str(cache))
        for _ in ds:
            rows += 1
    elif phase != "floor":
        raise SystemExit(f"unknown phase {phase}")
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "phase": phase,
        "format": fmt,
        "rows": rows,
        "wall_s": wall,
        "peak_rss_mb": peak_kb / 1024,
    }


def run_child(phase: str, path: Path, config: Path, cache: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", phase, "--path", str(path)]
    cmd += ["--config", str(config), "--cache", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} {path.name} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the parent


def measure(n: int, work: Path, measures: list[tuple[str, str]]) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = write_inputs(work, n)
    sizes = {fmt: round(p.stat().st_size / 2**20, 1) for fmt, p in paths.items()}
    common.console.print(f"{n:,} rows written in {time.perf_counter() - t0:.0f} s: {sizes} MB")
    out = []
    for phase, fmt in measures:
        folder = work / f"{phase}-{fmt}"
        config = common.make_run(folder, "http://127.0.0.1:9/v1", n=n, inputs=paths[fmt])
        r = run_child(phase, paths[fmt], config, folder / "hf-cache")
        if phase != "floor" and r["rows"] != n:
            raise RuntimeError(f"{phase} {fmt}: {r['rows']:,} rows of {n:,}")
        r["file_mb"] = sizes[fmt]
        common.console.print(f"  {phase} {fmt}: {r}")
        out.append(r)
        for p in sorted(folder.rglob("*"), reverse=True):  # the journal and the Arrow cache
            p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--phases", nargs="*", default=None, help="only these readers (the floor always runs)"
    )
    parser.add_argument("--formats", nargs="*", default=None, help="only these formats")
    parser.add_argument("--child", metavar="PHASE", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.path, args.config, args.cache)))
        return {}
    measures = MEASURES
    if args.smoke:  # the test suite's: the CSV readers only
        args.rows = 2000
        measures = [m for m in MEASURES if m[1] == "csv"]
    if args.phases is not None or args.formats is not None:
        measures = [
            (p, f)
            for p, f in measures
            if p == "floor"
            or (
                (args.phases is None or p in args.phases)
                and (args.formats is None or f in args.formats)
            )
        ]

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        results = measure(args.rows, args.workdir or Path(tmp), measures)
    total_s = time.perf_counter() - t0

    floor = next(r for r in results if r["phase"] == "floor")
    by = {(r["phase"], r["format"]): r for r in results}
    rows = [
        (
            r["phase"],
            r["format"],
            r["peak_rss_mb"],
            r["peak_rss_mb"] - floor["peak_rss_mb"],
            r["wall_s"] if r["phase"] != "floor" else None,
            r["rows"] / r["wall_s"] if r["phase"] != "floor" else None,
        )
        for r in results
    ]
    common.console.print(
        common.table(
            f"reading {args.rows:,} rows: peak RSS of each reader in its own process",
            ["reader", "format", "peak RSS MB", "over floor MB", "wall s", "rows/s"],
            rows,
        )
    )
    ratios: dict[str, dict[str, float]] = {}
    for fmt in FORMATS:
        ours = by.get(("distill-read", fmt))
        for peer in ("pandas", "datasets"):
            theirs = by.get((peer, fmt))
            if ours is None or theirs is None:
                continue
            ratios[f"{fmt}: {peer} / distill read"] = {
                "peak_rss": theirs["peak_rss_mb"] / ours["peak_rss_mb"],
                "held_mb": theirs["peak_rss_mb"] - ours["peak_rss_mb"],
                "rows_per_s": (theirs["rows"] / theirs["wall_s"]) / (ours["rows"] / ours["wall_s"]),
            }
    for name, r in ratios.items():
        common.console.print(
            f"{name}: {r['peak_rss']:.2f}x the peak memory ({r['held_mb']:+,.0f} MB), "
            f"{r['rows_per_s']:.2f}x the rows/s"
        )
    data = {"rows": args.rows, "total_wall_s": total_s, "results": results, "ratios": ratios}
    path = common.save("inputs_at_scale", data, args.out, argv)
    common.console.print(f"figures: {path} ({total_s:.0f} s in all)")
    return data


if __name__ == "__main__":
    main()
