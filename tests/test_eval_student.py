"""`distill eval`: a tiny student trained here answers the test split, in-process (the full
model, base + LoRA adapter, merged) and through an OpenAI-compatible server on 127.0.0.1;
its failures file goes back into a real harvest as inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

import evalkit  # noqa: E402
import torch  # noqa: E402

from evals.generate import resolve_student  # noqa: E402
from evals.run import evaluate, percentile  # noqa: E402
from synth.config import load_config  # noqa: E402
from synth.errors import ConfigError, StageError  # noqa: E402
from synth.sim.config import SimConfig  # noqa: E402
from synth.sim.runner import SimServer  # noqa: E402

TINY = {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4}


def train_tiny_student(
    out: Path, rows: list[dict[str, Any]], steps: int = 24, batch: int = 12
) -> Path:
    """A random-init tiny Llama and BPE tokenizer (finetune.tiny), then a few full fine-tuning
    steps on the assistant tokens: a working model, not a good one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.tiny import build_tiny_student, texts_of

    build_tiny_student(out, texts_of(rows), **TINY)
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    examples = []
    for r in rows:
        ids = tok(tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)[
            "input_ids"
        ]
        prompt = tok.apply_chat_template(
            r["messages"][:-1], tokenize=False, add_generation_prompt=True
        )
        examples.append((ids, len(tok(prompt, add_special_tokens=False)["input_ids"])))
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    first = last = None
    for step in range(steps):
        chunk = [examples[(step * batch + j) % len(examples)] for j in range(batch)]
        width = max(len(ids) for ids, _ in chunk)
        inp = torch.full((batch, width), tok.pad_token_id)
        att = torch.zeros((batch, width), dtype=torch.long)
        lab = torch.full((batch, width), -100)
        for b, (ids, n) in enumerate(chunk):
            inp[b, : len(ids)] = torch.tensor(ids)
            att[b, : len(ids)] = 1
            lab[b, n : len(ids)] = torch.tensor(ids[n:])
        loss = model(input_ids=inp, attention_mask=att, labels=lab).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        first = first if first is not None else loss.item()
        last = loss.item()
    assert last < first  # it learned something
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = evalkit.dataset_rows(evalkit.records(60))["train"]
    return train_tiny_student(tmp_path_factory.mktemp("student") / "model", rows)


def _with_student(cfg: Any, trained: Path) -> Path:
    student = cfg.run_dir / "student"
    shutil.copytree(trained, student)
    return student


def _lines(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def test_eval_of_a_trained_tiny_student(tmp_path: Path, trained: Path) -> None:
    cfg = evalkit.make_run(tmp_path, eval_cfg={"batch_size": 5, "max_new_tokens": 6})
    _with_student(cfg, trained)
    result = evaluate(cfg)

    m = result.metrics
    eval_dir = cfg.run_dir / "eval"
    for name in ("metrics.json", "metrics.md", "predictions.jsonl", "failures.jsonl"):
        assert (eval_dir / name).exists(), name
    assert json.loads((eval_dir / "metrics.json").read_text()) == json.loads(
        json.dumps(m, default=str)
    )
    test_rows = evalkit.dataset_rows(evalkit.records(60))["test"]
    assert m["task"] == "classification" and m["split"] == "test" and m["items"] == len(test_rows)
    assert m["student"]["kind"] == "full" and m["student"]["device"] == "cpu"

    # the metrics are what the predictions say
    preds = _lines(eval_dir / "predictions.jsonl")
    assert len(preds) == len(test_rows)
    assert [p["teacher"] for p in preds] == [r["messages"][-1]["content"] for r in test_rows]
    agree = sum(p["agree"] for p in preds) / len(preds)
    assert m["metrics"]["agreement"] == pytest.approx(agree)
    gold_acc = sum(p["student_label"] == p["gold_label"] for p in preds) / len(preds)
    assert m["metrics"]["gold"]["student_accuracy"] == pytest.approx(gold_acc)
    teacher_acc = sum(r["label"] == r["gold"] for r in test_rows) / len(test_rows)
    assert m["metrics"]["gold"]["teacher_accuracy"] == pytest.approx(teacher_acc)
    assert m["gap"]["basis"] == "gold"
    assert m["gap"]["fraction"] == pytest.approx(gold_acc / teacher_acc)
    assert sum(map(sum, m["metrics"]["confusion_vs_teacher"]["matrix"])) == len(preds)

    perf = m["performance"]
    assert perf["items_per_s"] > 0 and perf["tokens_per_s"] > 0
    assert 0 < perf["latency_p50_s"] <= perf["latency_p95_s"]
    assert all(1 <= p["output_tokens"] <= 6 for p in preds)
    # per item: each item's share of its batch; a batch's shares add up to its wall time
    # (the items of one batch share one latency_s), and no share exceeds the batch's time
    by_batch: dict[float, list[float]] = {}
    for p in preds:
        assert 0 < p["item_s"] <= p["latency_s"] + 1e-6
        by_batch.setdefault(p["latency_s"], []).append(p["item_s"])
    for batch_s, shares in by_batch.items():
        assert sum(shares) == pytest.approx(batch_s, rel=1e-3, abs=1e-5)
    items = perf["item_latency"]
    assert items["items"] == len(preds) and items["measures"].startswith("per item: its share")
    assert items["p50_s"] == pytest.approx(percentile([p["item_s"] for p in preds], 50), abs=1e-5)
    assert items["p50_s"] < perf["latency_p50_s"]  # a share of a batch of 5 is less than it

    # failures: the input records of the disagreements, once each, as the inputs file had them
    failures = _lines(eval_dir / "failures.jsonl")
    expected = [p["input"] for p in preds if not p["agree"]]
    assert failures == expected and m["failures"] == len(failures)
    originals = [json.loads(line) for line in (tmp_path / "inputs.jsonl").read_text().splitlines()]
    assert all(f in originals for f in failures)

    md = (eval_dir / "metrics.md").read_text()
    assert "Confusion matrix" in md and "failures.jsonl" in md
    assert "disagreements" in result.describe()


def test_adapter_and_merged_students_load(tmp_path: Path, trained: Path) -> None:
    """base + LoRA adapter (peft) and merged/ are found as the training stage lays them out.
    A fresh LoRA adapter is the identity (B = 0), so it must answer exactly as its base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = evalkit.make_run(tmp_path, journal=False, funnel=False, eval_cfg={"max_new_tokens": 6})
    student = cfg.run_dir / "student"
    base = shutil.copytree(trained, tmp_path / "base")
    student.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft reads a deprecated transformers flag
        peft_model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(base),
            LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
    peft_model.save_pretrained(student)
    AutoTokenizer.from_pretrained(base).save_pretrained(student)
    # the training stage keeps the tiny base inside the student folder: a relative path works
    adapter_cfg = json.loads((student / "adapter_config.json").read_text())
    shutil.copytree(base, student / "base")
    adapter_cfg["base_model_name_or_path"] = "base"
    (student / "adapter_config.json").write_text(json.dumps(adapter_cfg))

    assert resolve_student(student)[0] == "adapter"
    with_adapter = evaluate(cfg)
    assert with_adapter.metrics["student"]["kind"] == "adapter"
    answers = [p["student"] for p in _lines(cfg.run_dir / "eval" / "predictions.jsonl")]

    shutil.copytree(base, student / "merged")
    assert resolve_student(student) == ("merged", student / "merged")
    merged = evaluate(cfg)
    assert merged.metrics["student"]["kind"] == "merged"
    assert [p["student"] for p in _lines(cfg.run_dir / "eval" / "predictions.jsonl")] == answers


def test_served_student_through_an_openai_compatible_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eval.student_endpoint: the student behind a real HTTP server on 127.0.0.1 that answers
    503 now and then (as vLLM does with a full queue): retried, every item answered."""
    monkeypatch.setattr("evals.served.BACKOFF_S", (0.02, 0.1))
    sim_cfg = SimConfig(answers=evalkit.student_answer_fn(wrong_every=4), fault_503=0.3, seed=3)
    with SimServer(sim_cfg) as sim:
        endpoint = {"base_url": sim.openai_base_url, "model": "sim-teacher", "concurrency": 4}
        cfg = evalkit.make_run(
            tmp_path, eval_cfg={"student_endpoint": endpoint, "max_new_tokens": 8}
        )
        result = evaluate(cfg)
        by_status = sim.ledger(entries=False)["counters"]["by_status"]
    m = result.metrics
    assert m["student"]["kind"] == "endpoint" and m["failed_requests"] == 0
    assert by_status["200"] == m["items"]
    assert by_status.get("503", 0) > 0  # faults happened and were retried

    preds = _lines(cfg.run_dir / "eval" / "predictions.jsonl")
    # the served student gives the keyword's label, but the next one on some tickets
    wrong = [evalkit.student_is_wrong(p["input"]["text"], 4) for p in preds]
    assert 0 < sum(wrong) < len(wrong)
    assert [p["student_label"] != p["gold_label"] for p in preds] == wrong
    assert m["metrics"]["gold"]["student_accuracy"] == pytest.approx(1 - sum(wrong) / len(wrong))
    assert m["performance"]["latency_p95_s"] >= m["performance"]["latency_p50_s"] > 0
    assert m["performance"]["latency_is"] == "per request"
    assert m["performance"]["output_tokens"] > 0
    # a served student's per-item time is its request's round trip, and says so
    assert all(p["item_s"] == p["latency_s"] for p in preds)
    items = m["performance"]["item_latency"]
    assert (
        items["measures"]
        == "per request: the round trip the eval's client saw, 4 in flight at most"
    )
    assert items["p50_s"] == pytest.approx(m["performance"]["latency_p50_s"])


def test_failures_file_is_a_harvest_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next round: `distill harvest CONFIG --inputs <run>/eval/failures.jsonl`."""
    from synth.harvest.engine import harvest
    from synth.journal.store import Journal

    with SimServer(SimConfig(answers=evalkit.student_answer_fn(wrong_every=3))) as sim:
        endpoint = {"base_url": sim.openai_base_url, "model": "sim-teacher"}
        cfg = evalkit.make_run(tmp_path, eval_cfg={"student_endpoint": endpoint})
        evaluate(cfg)
        failures = cfg.run_dir / "eval" / "failures.jsonl"
        wanted = _lines(failures)
        assert wanted

        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        round2 = load_config(
            tmp_path / "config.yaml",
            {
                "name": "tickets-round2",
                "inputs": str(failures),
                "teacher.base_url": sim.openai_base_url,
            },
        )
        result = harvest(round2)
    assert result.stats.done == len(wanted) and result.stats.failed == 0
    with Journal(round2.journal_path, readonly=True) as j:
        assert [it.input for it in j.iter_items(state="done")] == wanted


def test_missing_stages_say_what_to_run(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path / "a", dataset=False)
    with pytest.raises(StageError, match="distill build"):
        evaluate(cfg)
    cfg = evalkit.make_run(tmp_path / "b")
    with pytest.raises(StageError, match="distill train"):
        evaluate(cfg)


def test_served_student_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = {"base_url": f"http://127.0.0.1:{port}/v1", "model": "student", "timeout_s": 2}
    cfg = evalkit.make_run(
        tmp_path, journal=False, funnel=False, eval_cfg={"student_endpoint": endpoint, "limit": 2}
    )
    monkeypatch.setattr("evals.served.BACKOFF_S", (0.01, 0.02))
    with pytest.raises(StageError, match="every request failed.*server is up"):
        evaluate(cfg)

    cfg.eval.student_endpoint.api_key_env = "DISTILL_TEST_NO_SUCH_KEY"
    monkeypatch.delenv("DISTILL_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$DISTILL_TEST_NO_SUCH_KEY"):
        evaluate(cfg)


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile(list(map(float, range(101))), 95) == pytest.approx(95.0)


@pytest.mark.slow
def test_eval_of_a_student_from_distill_train(tmp_path: Path) -> None:
    """The training stage's own layout (adapter, base/, merged/, training_summary.json) is
    what the eval loads, and the training wall time goes into the one-off cost."""
    pytest.importorskip("trl")
    from finetune.train import train

    student = {
        "base_model": "tiny",
        "tiny": TINY,
        "lora": {"modules_to_save": ["embed_tokens", "lm_head"]},
        "max_steps": 6,
        "batch_size": 8,
        "eval_steps": None,
        "merge": True,
    }
    cfg = evalkit.make_run(
        tmp_path, student=student, eval_cfg={"max_new_tokens": 6, "student_cost_per_hour": 1.0}
    )
    summary = train(cfg).summary
    m = evaluate(cfg).metrics
    assert m["student"]["kind"] == "merged"
    assert m["cost"]["one_off"]["training_wall_s"] == summary["wall_time_s"]
    from evals.model_card import write_model_card

    card = write_model_card(cfg).read_text()  # type: ignore[union-attr]
    assert "base_model: tiny" in card and 'path = "./merged"' in card
    assert f"train: {summary['train_rows']:,} rows" in card and "fine-tuned version of" not in card
    shutil.rmtree(cfg.run_dir / "student" / "merged")
    assert evaluate(cfg).metrics["student"]["kind"] == "adapter"


def test_loading_the_student_draws_no_library_progress_bar(trained: Path) -> None:
    """transformers' "Loading weights" tqdm bar leaked into the demo's output."""
    code = (
        "from pathlib import Path; from transformers.utils import logging\n"
        "logging.enable_progress_bar()\n"
        "from evals.generate import load_student\n"
        f"load_student(Path({str(trained)!r}), 'cpu')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Loading weights" not in r.stderr + r.stdout and "it/s]" not in r.stderr
