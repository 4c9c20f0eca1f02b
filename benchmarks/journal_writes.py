"""The journal's write path alone, at two journal sizes: does it slow as the journal grows?

For each size, a journal of that many varied inputs (built once in `--workdir`, reused when
it is there), then `--items` pending items answered the way the engine journals an answer
(`mark_in_flight`, then `mark_done` with its attempt, each its own commit), timed with no
HTTP and no teacher: what a harvest pays SQLite per answer, against how many rows it holds.

    python benchmarks/journal_writes.py --workdir /tmp/jw             # 100K and 1M rows
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.memory_at_scale import write_varied_inputs  # noqa: E402


def measure(folder: Path, n: int, items: int) -> dict[str, Any]:
    from synth.config import load_config
    from synth.harvest.engine import iter_items, plan
    from synth.harvest.providers.base import ChatResponse, Usage
    from synth.journal.store import Journal

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "inputs.jsonl").exists():
        write_varied_inputs(folder / "inputs.jsonl", n)
    cfg = load_config(
        common.make_run(folder, "http://127.0.0.1:9/v1", n=n, inputs=folder / "inputs.jsonl")
    )
    out: dict[str, Any] = {"rows": n}
    with Journal(cfg.journal_path) as j:
        if not j.count():
            t = time.perf_counter()
            j.add_items(iter_items(plan(cfg)))
            out["journal_built_s"] = time.perf_counter() - t
        keys = []
        for key, _ in j.iter_pending():
            keys.append(key)
            if len(keys) >= items:
                break
        response = ChatResponse(text="billing", usage=Usage(40, 2), finish_reason="stop")
        t = time.perf_counter()
        for key in keys:
            j.mark_in_flight(key, Decimal("0.0001"))
            j.mark_done(key, response, Decimal("0.0000072"), run_id=1, started_at=time.time())
        wall = time.perf_counter() - t
    out.update(items=len(keys), wall_s=wall, items_per_s=len(keys) / wall)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--items", type=int, default=6000, help="answers journaled per size")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.items = [500, 2000], 200
    import tempfile

    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = args.workdir or Path(tmp)
        runs = {str(n): measure(work / f"j{n}", n, args.items) for n in args.sizes}
    for n, r in runs.items():
        common.console.print(f"{int(n):,} rows: {r['items_per_s']:,.0f} answers/s journaled")
    data = {"runs": runs}
    common.save("journal_writes", data, args.out, argv)
    return data


if __name__ == "__main__":
    main()
