"""What a command-line user expects: -h, --version, CONFIG in usage lines, flags without a type,
and a config key spelt as axolotl or TRL spell it answered with the key it is here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import distill, make_run


def test_short_help_version_and_usage_placeholders() -> None:
    top = distill("-h")
    assert top.returncode == 0 and "--version" in top.stdout and "harvest" in top.stdout
    v = distill("--version")
    assert v.returncode == 0 and v.stdout.startswith("distill ")
    h = distill("harvest", "-h")
    assert h.returncode == 0, h.stderr
    assert "[OPTIONS] CONFIG\n" in h.stdout
    assert "{" not in h.stdout.splitlines()[0]
    assert "<bool>" not in h.stdout
    assert "--dry-run " in h.stdout


@pytest.mark.parametrize(
    ("section", "key", "value", "hint"),
    [
        ("student", "gradient_accumulation_steps", 4, "student.grad_accum"),
        ("student", "lora_r", 8, "student.lora.r"),
        ("student", "micro_batch_size", 2, "student.batch_size"),
        ("student", "num_epochs", 2, "student.epochs"),
        ("student", "grad_acum", 2, "student.grad_accum"),
        ("teacher", "concurrncy", 2, "teacher.concurrency"),
    ],
)
def test_other_tools_spellings_get_a_did_you_mean(
    tmp_path: Path, section: str, key: str, value: int, hint: str
) -> None:
    run = make_run(tmp_path, "http://127.0.0.1:9/v1")
    cfg = yaml.safe_load(run.config.read_text())
    cfg.setdefault(section, {"base_model": "tiny"} if section == "student" else {})[key] = value
    run.config.write_text(yaml.safe_dump(cfg))
    r = distill("harvest", str(run.config), "--dry-run")
    assert r.returncode != 0
    assert f"{section}.{key}: unknown key (did you mean `{hint}`?)" in r.stderr
    assert "Traceback" not in r.stderr


def test_terminal_tables_never_cut_a_path_at_80_columns() -> None:
    r = distill("templates", "list", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    cells = "".join(line.split("│")[-2].strip() for line in r.stdout.splitlines() if "│" in line)
    assert "support-ticket.yaml" in cells


def test_set_overrides_any_key_and_names_itself_in_errors(tmp_path: Path) -> None:
    run = make_run(tmp_path, "http://127.0.0.1:9/v1", budget_usd=5)
    r = distill(
        "harvest", str(run.config), "--dry-run", "--set", "budget_usd=0.25",
        "--set", "teacher.params.max_tokens=3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "(budget $0.25)" in r.stdout and "at most 60" in r.stdout  # 20 items x 3 tokens
    for sets, expected in [
        (["student.lora_r=8"], "--set student.lora_r=8: student.lora_r: unknown key "
         "(did you mean `student.lora.r`?)"),
        (["teacher.concurrncy=2"], "--set teacher.concurrncy=2: teacher.concurrncy: unknown key "
         "(did you mean `teacher.concurrency`?)"),
        (["teacher.concurrency=many"], "--set teacher.concurrency=many: teacher.concurrency:"),
        (["name.x=1"], "--set name.x=1: name is a value, not a section"),
        (["novalue"], "--set novalue: write KEY.PATH=VALUE"),
    ]:  # fmt: skip
        r = distill("report", str(run.config), *[a for s in sets for a in ("--set", s)])
        assert r.returncode == 2, r.stderr
        assert expected in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sim_help_is_in_the_style_of_the_other_verbs_and_its_flags_work() -> None:
    h = distill("sim", "-h")
    assert h.returncode == 0, h.stderr
    assert h.stdout.startswith("Usage: ") and "sim [OPTIONS]\n" in h.stdout.splitlines()[0] + "\n"
    assert "-h, --help" in h.stdout and "--fault-429 VALUE" in h.stdout and "--port N" in h.stdout
    assert "usage:" not in h.stdout  # argparse's page
    bad = distill("sim", "--fault-429", "2")
    assert bad.returncode == 2 and "fault_429" in bad.stderr and "Traceback" not in bad.stderr

    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "synth.cli", "sim", "--port", "0", "--models", "m1,m2"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            url = re.search(r"OpenAI base_url (\S+/v1)", proc.stdout.readline())
            assert url, "distill sim did not announce its URL"
            models = httpx.get(url.group(1) + "/models", timeout=10).json()
            assert [m["id"] for m in models["data"]] == ["m1", "m2"]
        finally:
            proc.terminate()
