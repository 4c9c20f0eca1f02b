"""cProfile of a whole harvest of N varied inputs against the simulated teacher (in its own
process, answering at once): where the client's time goes, the 25 costliest functions.

    python benchmarks/profile_harvest.py 10000 > benchmarks/results/harvest_profile.10k.txt
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.memory_at_scale import write_varied_inputs  # noqa: E402


def main() -> None:
    from synth.config import load_config
    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    folder = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    try:
        write_varied_inputs(folder / "inputs.jsonl", n)
        with SimServer(process=True) as sim:
            config = common.make_run(
                folder, sim.openai_base_url, n=n, inputs=folder / "inputs.jsonl"
            )
            cfg = load_config(config)
            profile = cProfile.Profile()
            t = time.perf_counter()
            profile.enable()
            result = harvest(cfg)
            profile.disable()
            wall = time.perf_counter() - t
        print(n, result.stats.done, f"{wall:.1f}s {n / wall:.0f}/s")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
