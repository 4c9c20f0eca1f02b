"""The benchmarks keep working: each script runs its `--smoke` size end to end, as a user runs
it (a subprocess), and writes its JSON figures. No figure is asserted against a clock: the
benchmarks measure, the test suite only checks that they can."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def smoke(script: str, tmp_path: Path, *extra: str, timeout: float = 240) -> dict:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / f"{script}.py"),
            "--smoke",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    files = list(out.glob("*.json"))
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    assert data["machine"]["cores"] >= 1 and data["command"].startswith("python benchmarks/")
    return data


def test_harvest_overhead_smoke(tmp_path: Path) -> None:
    data = smoke("harvest_overhead", tmp_path)
    m = data["median"]
    assert m["baseline_rps"] > 0 and m["distill_rps"] > 0 and data["ratio_rps"] > 0


def test_harvest_at_limit_smoke(tmp_path: Path) -> None:
    data = smoke("harvest_at_limit", tmp_path)
    runs = data["scenarios"]["clean"]["runs"]
    assert set(runs) == {"distill, rpm set", "distill, no rpm (headers)", "bare SDK loop"}
    for label, r in runs.items():
        assert r["answered"] == 100 or not label.startswith("distill"), (label, r)
        assert r["steady_fraction"] is not None
    # distill honours every retry-after it is given, and never pays an answer twice here
    for label, r in runs.items():
        if label.startswith("distill"):
            assert r["retry_after_violations"] == 0 and r["answers_billed_twice"] == 0
            assert r["counts_cover_bill"]


def test_harvest_long_smoke(tmp_path: Path) -> None:
    data = smoke("harvest_long", tmp_path)
    r = data["runs"]["300"]
    assert r["complete"] and r["exit_code"] == 0
    # ten tenths, each with a rate, read back from the journal's attempts
    assert [s["upto"] for s in r["per_slice"]] == list(range(30, 301, 30))
    assert all(s["items_per_s"] > 0 for s in r["per_slice"])


def test_journal_writes_smoke(tmp_path: Path) -> None:
    data = smoke("journal_writes", tmp_path)
    assert set(data["runs"]) == {"500", "2000"}
    for r in data["runs"].values():
        assert r["items"] == 200 and r["items_per_s"] > 0


def test_memory_at_scale_smoke(tmp_path: Path) -> None:
    data = smoke("memory_at_scale", tmp_path)
    for phase in ("journal", "build", "harvest"):
        assert data[phase], phase
        for r in data[phase].values():
            assert r["peak_rss_mb"] > 0 and r["items"] > 0
    assert data["floor"]["peak_rss_mb"] > 0


def test_inputs_at_scale_smoke(tmp_path: Path) -> None:
    data = smoke("inputs_at_scale", tmp_path)
    got = {(r["phase"], r["format"]) for r in data["results"]}
    assert {("distill-read", "csv"), ("pandas", "csv"), ("datasets", "csv")} <= got
    for r in data["results"]:
        assert r["peak_rss_mb"] > 0 and (r["phase"] == "floor" or r["rows"] == data["rows"])
    assert set(data["ratios"]) == {"csv: pandas / distill read", "csv: datasets / distill read"}


def test_train_throughput_smoke(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = smoke("train_throughput", tmp_path)
    assert set(data["runs"]) == {
        "TRL SFTTrainer, defaults",
        "TRL SFTTrainer, gradient_checkpointing off",
        "distill train, packing off",
        "distill train, packing on (padding-free)",
    }
    assert all(r["tokens_per_s"] > 0 for r in data["runs"].values())


def test_soft_labels_smoke(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = smoke("soft_labels", tmp_path, timeout=600)
    assert {r["loss"] for r in data["summary"]} == {"hard", "mix", "soft"}
    assert data["train_rows_with_teacher_dist"] > 0.9 * data["train_rows"]
    for r in data["runs"]:
        assert 0 <= r["agreement"] <= 1 and 0 <= r["accuracy"] <= 1


def test_demo_variants_smoke(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = smoke("demo_variants", tmp_path, timeout=600)
    v = data["variants"]
    assert set(v) == {"demo", "grouped-6ep"}
    for name, row in v.items():
        val = row["validation"]
        assert val["items"] > 0 and 0 <= val["agreement"] <= 1, name
        assert row["steps"] > 0 and row["train_cpu_s"] > 0, name
    # the grouped variant really ran with its own settings, and only the pick saw test
    assert v["grouped-6ep"]["epochs"] > v["demo"]["epochs"]
    assert "test" in v["demo"] and "test" not in v["grouped-6ep"]


@pytest.mark.slow
def test_rounds_smoke(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = smoke("rounds", tmp_path, timeout=600)
    assert data["seeds_finished"] == 1
    for run in data["runs"]:
        assert [r["round"] for r in run["rounds"]] == [1, 2]
        assert run["rounds"][1]["sent"] == 180 and run["rounds"][1]["agreement"] is not None
    # the same round 1 for both selections, so that they compare from one start
    first = {r["select"]: r["rounds"][0]["agreement"] for r in data["runs"]}
    assert first["uncertainty"] == first["random"]


def test_bill_by_mode_smoke(tmp_path: Path) -> None:
    data = smoke("bill_by_mode", tmp_path)
    rows = {(r["task"], r["mode"]): r for r in data["rows"]}
    assert len(rows) == 6 and all(r["answered"] == data["items"] for r in rows.values())
    assert all(r["equal_to_the_cent"] for r in rows.values())
    for task in {t for t, _ in rows}:
        online = float(rows[task, "online"]["teacher_bill_usd"])
        assert float(rows[task, "batch"]["teacher_bill_usd"]) < online


def test_soft_labels_combine_keeps_one_student_per_cell(tmp_path: Path) -> None:
    from benchmarks.soft_labels import combine, summarise

    def student(size: str, seed: int, loss: str, agreement: float) -> dict:
        return {
            "size": int(size),
            "size_name": size,
            "seed": seed,
            "loss": loss,
            "agreement": agreement,
            "accuracy": agreement,
        }

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([student("150", 0, "hard", 0.5), student("150", 0, "mix", 0.6)]))
    # a second process: seed 1, and seed 0's hard student again (the same deterministic run)
    b.write_text(json.dumps([student("150", 0, "hard", 0.5), student("150", 1, "hard", 0.7)]))
    runs = combine([a, b])
    assert len(runs) == 3
    rows = {r["loss"]: r for r in summarise(runs)}
    assert rows["hard"]["seeds"] == 2 and rows["mix"]["seeds"] == 1
    assert rows["hard"]["agreement_mean"] == pytest.approx(0.6)
    assert (rows["hard"]["agreement_min"], rows["hard"]["agreement_max"]) == (0.5, 0.7)


@pytest.mark.slow
def test_token_alignment_smoke(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    data = smoke("token_alignment", tmp_path)
    (r,) = data["results"]
    assert r["answers"] > 0 and r["answers_spelled_by_teacher_tokens"] == 1.0
    assert 0 < r["aligned_share"] < 1  # word starts align; a BPE student's word pieces do not


@pytest.mark.slow
def test_soft_text_smoke(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = smoke("soft_text", tmp_path, timeout=600)
    assert [r["loss"] for r in data["summary"]] == ["hard", "mix"]
    mix = next(r for r in data["runs"] if r["loss"] == "mix")
    assert 0 < mix["aligned_fraction"] <= 1 and mix["chrf_vs_teacher"] is not None
    assert set(data["in_context"]) == {"chatml (tiny student)", "llama3 (TRL training template)"}
