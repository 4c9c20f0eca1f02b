"""README's "Quick start with a real teacher", run as written, on each bundled example.

The commands are read from README's fenced block, so the test fails when README and the
commands drift apart. They run in order, as subprocesses, in a copy of the example trimmed to
a few inputs. The teacher's `base_url` points at the simulated teacher on 127.0.0.1, and the
key variable holds a dummy. The student is the local tiny model, trained for a few steps
(no download). Everything else in the example's config is kept as it ships.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth.sim.runner import SimServer
from tests.conftest import REPO, distill

pytest.importorskip("transformers")

EXAMPLES = REPO / "examples"
SHOWN = "support-tickets"  # the example README's block names

# (example, inputs kept, simulated teacher's answer function)
CASES = [("support-tickets", 60, "tickets"), ("invoice-extraction", 40, "extract")]

# what a trimmed copy changes: a small local student, a few steps; nothing else
TINY_STUDENT = {
    "base_model": "tiny",
    "tiny": {"vocab_size": 512, "hidden_size": 32, "layers": 1, "heads": 2, "texts": 200},
    "max_steps": 4,
    "batch_size": 8,
    "max_length": 256,
    "logging_steps": 1,
}


def quick_start() -> list[str]:
    """The command lines of README's quick start block, comments dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start with a real teacher", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's quick start has no ```bash block"
    lines = [line.split(" #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def trimmed_copy(root: Path, example: str, n: int, base_url: str) -> dict[str, Any]:
    """examples/<example>/ under root: its first n inputs and its config, with the teacher
    pointed at base_url and the tiny student; returns the config as written."""
    src, dst = EXAMPLES / example, root / "examples" / example
    dst.mkdir(parents=True)
    with (src / "inputs.jsonl").open(encoding="utf-8") as f:
        head = [next(f) for _ in range(n)]
    (dst / "inputs.jsonl").write_text("".join(head), encoding="utf-8")
    cfg = yaml.safe_load((src / "config.yaml").read_text(encoding="utf-8"))
    cfg["teacher"]["base_url"] = base_url
    cfg["student"] = {**cfg["student"], **TINY_STUDENT}
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return cfg


def test_the_quick_start_block_is_what_this_test_runs() -> None:
    """Every line is one this test knows how to run: an activate, an export or `distill`."""
    lines = quick_start()
    verbs = [shlex.split(line)[1] for line in lines if line.startswith("distill ")]
    assert verbs[:3] == ["templates", "templates", "harvest"], verbs
    for stage in ("harvest", "report", "build", "train", "eval", "run"):
        assert stage in verbs, f"README's quick start lost `distill {stage}`"
    for line in lines:
        assert line.startswith((". ", "source ", "export ", "distill ")), line


@pytest.mark.parametrize(("example", "n", "answers"), CASES)
def test_readme_quick_start_runs_as_written(
    tmp_path: Path, example: str, n: int, answers: str
) -> None:
    with SimServer(answers=answers, seed=0) as sim:
        cfg = trimmed_copy(tmp_path, example, n, sim.openai_base_url)
        run_dir = tmp_path / "examples" / example / "runs" / cfg["name"]
        records = [json.loads(x) for x in (tmp_path / "examples" / example / "inputs.jsonl").open()]
        env: dict[str, str] = {}
        for line in quick_start():
            argv = shlex.split(line.replace(f"examples/{SHOWN}", f"examples/{example}"))
            if argv[0] in (".", "source"):
                continue  # the test runs in the project's interpreter already
            if argv[0] == "export":
                name = argv[1].split("=", 1)[0]
                env[name] = "sk-dummy-for-the-simulated-teacher"
                continue
            if argv[1:3] == ["templates", "render"]:
                assert argv[3] == "support-ticket", "README renders the tickets' own template"
                argv[3] = cfg["template"]
            before = received(sim)
            r = distill(*argv[1:], env=env, cwd=tmp_path, timeout=300)
            assert r.returncode == 0, f"`{line}` exited {r.returncode}:\n{r.stderr[-3000:]}"
            assert "Traceback" not in r.stderr, r.stderr
            sent = received(sim) - before
            check(argv[1:], r.stdout, run_dir, records, sent, cfg)


def received(sim: SimServer) -> int:
    """Requests that reached the simulated teacher, answered or not."""
    return int(sim.ledger(entries=False)["counters"]["received"])


def check(
    args: list[str],
    stdout: str,
    run_dir: Path,
    records: list[dict[str, Any]],
    sent: int,
    cfg: dict[str, Any],
) -> None:
    """What each command promises, in README's words next to it."""
    verb = args[0]
    if verb == "templates" and args[1] == "list":
        assert cfg["template"] in stdout
    elif verb == "templates":  # render NAME --inputs F --line N: exactly what the teacher gets
        line = int(args[args.index("--line") + 1])
        assert records[line - 1]["text"].splitlines()[0] in stdout
        assert sent == 0
    elif verb == "harvest" and "--dry-run" in args:  # tokens and cost, sends nothing
        assert "dry run" in stdout and "worst case" in stdout
        assert sent == 0
    elif verb == "harvest":
        assert f"{len(records)}/{len(records)} answered" in stdout, stdout
        assert sent >= len(records)
    elif verb == "report":  # what it cost
        assert "cost" in stdout
    elif verb == "build":  # filters → runs/NAME/dataset/
        assert (run_dir / "dataset" / "dataset_dict.json").is_file()
        for split in ("train", "validation", "test"):
            assert (run_dir / "dataset" / f"{split}.jsonl").stat().st_size > 0, split
        assert (run_dir / "build" / "funnel.json").is_file()
    elif verb == "train":  # → runs/NAME/student/
        summary = json.loads((run_dir / "student" / "training_summary.json").read_text())
        assert summary["steps"] == TINY_STUDENT["max_steps"]
        assert (run_dir / "student" / "README.md").is_file(), "the model card"
        if cfg["student"].get("merge"):
            assert (run_dir / "student" / "merged" / "config.json").is_file()
    elif verb == "eval":  # → runs/NAME/eval/
        metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
        assert metrics["metrics"]["summary"] and metrics["items"] > 0
        assert (run_dir / "eval" / "predictions.jsonl").stat().st_size > 0
    elif verb == "run":  # all of the above, skipping what is current
        assert sent == 0, "the harvest was done: nothing is sent again"
        assert (run_dir / "report.html").is_file()
        for stage in ("harvest", "build", "train", "eval"):
            assert re.search(rf"{stage}\s*│\s*skipped", stdout), f"{stage} ran again:\n{stdout}"
    else:
        raise AssertionError(f"no check for `distill {' '.join(args)}`: add one")


def test_the_gpu_section_launches_through_distill() -> None:
    """Multi-GPU commands name the `distill` a user installed, never an internal module."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Training on GPUs", 1)[1].split("\n## ", 1)[0]
    launches = [
        line for line in section.splitlines() if line.startswith(("accelerate ", "torchrun "))
    ]
    assert launches, "README's GPU section has no launch command"
    for line in launches:
        assert "$(which distill) train CONFIG" in line and " -m " not in line, line
