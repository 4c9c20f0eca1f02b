"""One harvest per run folder at a time: a second harvest, build or train on a run being
harvested refuses at once naming the other process, nothing is sent twice, and a killed
harvest leaves no lock behind. Real processes, real loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from synth.sim.runner import SimServer
from tests.conftest import REPO, distill, make_run

PRICES = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DISTILL_TEST_KEY": "sk-test-123456"}
    return subprocess.Popen(
        [sys.executable, "-m", "synth.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


@pytest.mark.parametrize("gap_s", [0.1, 0.4, 1.0])
def test_two_harvests_on_one_run_send_nothing_twice(tmp_path: Path, gap_s: float) -> None:
    # long enough (~3 s) that the first is still harvesting when the second starts, 1 s later
    with SimServer(latency_ms=(80, 120), **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=120, teacher={"concurrency": 4})
        first = _start("harvest", str(run.config))
        time.sleep(gap_s)
        second = _start("harvest", str(run.config))
        outs = [p.communicate(timeout=120) for p in (first, second)]
        entries = sim.ledger()["entries"]
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 6], outs
    refused = outs[[first.returncode, second.returncode].index(6)][1]
    assert "Traceback" not in refused
    assert "is in use by pid" in refused and "distill harvest" in refused
    assert len(refused.strip().splitlines()) == 1, refused
    twice = [h for h, n in Counter(e["body_hash"] for e in entries).items() if n > 1]
    assert not twice, f"{len(twice)} answers billed twice"
    assert len(entries) == 120


def test_build_refuses_while_harvesting_and_a_killed_harvest_leaves_no_lock(
    tmp_path: Path,
) -> None:
    # ~17 s of harvest: still running after two `distill` starts on a loaded machine
    with SimServer(latency_ms=(150, 200), **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=200, teacher={"concurrency": 2})
        harvest = _start("harvest", str(run.config))
        deadline = time.time() + 60
        while sim.ledger(entries=False)["totals"]["requests"] < 5 and time.time() < deadline:
            time.sleep(0.05)
        for verb in ("build", "train"):
            r = distill(verb, str(run.config))
            assert r.returncode == 6, r.stderr
            assert f"pid {harvest.pid}" in r.stderr and "Traceback" not in r.stderr
        harvest.send_signal(signal.SIGKILL)
        harvest.wait()
        # the rest, quicker (the answered part is not sent again)
        r = distill("harvest", str(run.config), "--set", "teacher.concurrency=16")
        assert r.returncode == 0, r.stderr
        assert "200/200 answered" in r.stdout
