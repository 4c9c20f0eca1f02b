"""Shared test helpers: a run folder (template, inputs, config) pointed at a simulated teacher,
and the `distill` command run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

CLASSIFY_TEMPLATE = {
    "description": "Classify a ticket",
    "system": "You are a support triage assistant. Answer with one category.",
    "user": "Ticket: {{ text }}",
    "params": {"temperature": 0, "max_tokens": 16},
    "output": {"labels": ["billing", "shipping", "refund", "account", "technical"]},
}


@dataclass
class Run:
    dir: Path
    config: Path

    def cfg(self) -> Any:
        from synth.config import load_config

        return load_config(self.config)

    @property
    def run_dir(self) -> Path:
        return self.dir / "runs" / "t"


def make_run(
    tmp: Path,
    base_url: str,
    *,
    n: int = 20,
    provider: str = "openai",
    teacher: dict[str, Any] | None = None,
    template: dict[str, Any] | None = None,
    records: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Run:
    """A run folder: prompts/t.yaml, in.jsonl (n tickets), c.yaml pointing at `base_url`."""
    (tmp / "prompts").mkdir(parents=True, exist_ok=True)
    (tmp / "prompts" / "t.yaml").write_text(yaml.safe_dump(template or CLASSIFY_TEMPLATE))
    records = (
        records
        if records is not None
        else [
            {"id": i, "text": f"ticket {i}: my invoice shows a double charge for order {1000 + i}"}
            for i in range(n)
        ]
    )
    with (tmp / "in.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    t = {
        "provider": provider,
        "model": "sim-teacher",
        "base_url": base_url,
        "api_key_env": "DISTILL_TEST_KEY",
        "concurrency": 8,
        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
        "max_attempts": 10,
        **(teacher or {}),
    }
    cfg = {"name": "t", "inputs": "in.jsonl", "template": "t", "teacher": t, **top}
    config = tmp / "c.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Run(tmp, config)


def distill(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`distill ARGS` in a fresh interpreter, as a user runs it."""
    full_env = {**os.environ, "DISTILL_TEST_KEY": "sk-test-123456", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "synth.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


def torchrun_train(config: Path, processes: int = 2) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node N $(which distill) train CONFIG`, as README shows it (the
    test skips where the `distill` command is not installed)."""
    import shutil

    pytest.importorskip("accelerate")
    command = shutil.which("distill")
    if command is None:
        pytest.skip("the distill command is not installed")
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    return subprocess.run(
        [*launch, command, "train", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
    )


@pytest.fixture(autouse=True)
def _test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILL_TEST_KEY", "sk-test-123456")


@pytest.fixture(scope="module", autouse=True)
def _test_key_for_module_fixtures() -> Any:
    # module-scoped fixtures harvest before any function-scoped fixture runs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_TEST_KEY", "sk-test-123456")
        yield


@pytest.fixture
def sim():
    from synth.sim.runner import SimServer

    with SimServer(price_input_per_mtok=0.15, price_output_per_mtok=0.60) as s:
        yield s
