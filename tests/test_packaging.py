"""The wheel `pip install .` builds carries what an installed `distill` needs beside its code:
the prompt templates and the example tasks (setup.py copies them into synth/bundled/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_templates_and_examples(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "runs",
            "demo-run",
            ".*_cache",
        ),
    )
    out = tmp_path / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = out.glob("distill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    for folder in ("prompts", "examples"):
        shipped = {
            f"synth/bundled/{p.relative_to(ROOT).as_posix()}"
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert shipped and shipped <= names, sorted(shipped - names)[:5]
    assert "synth/cli/verbs.py" in names and "finetune/train.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
