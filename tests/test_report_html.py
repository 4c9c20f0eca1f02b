"""`distill report --html/--md`: one self-contained page, checked as text and in a real
headless Chromium (DevTools protocol over a pipe: console errors, exceptions, network)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import evalkit
import pytest

from evals.report import report_json_extras, write_report
from synth.sim.config import SimConfig
from synth.sim.runner import SimServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SECTIONS = ["summary", "harvest", "build", "training", "eval", "cost"]
# blocks inside the sections, each with its id: the loss curve, per-label precision / recall /
# F1, per-item latency, the disagreement examples
BLOCKS = ["loss-curve", "per-class", "latency", "disagreements"]


def _training_summary(cfg: Any) -> None:
    student = cfg.run_dir / "student"
    student.mkdir(parents=True, exist_ok=True)
    summary = {
        "base_model": "tiny",
        "method": "full",
        "hardware": "CPU (2 cores)",
        "precision": "fp32",
        "train_rows": 35,
        "steps": 40,
        "epochs": 3.0,
        "tokens_seen": 52_000,
        "tokens_per_s": 2600.0,
        "wall_time_s": 20.0,
        "first_train_loss": 6.1,
        "final_train_loss": 0.4,
        "final_eval_loss": 0.5,
        "trainable_params": 120_000,
        "total_params": 120_000,
        # as finetune.history.loss_curve writes it (tests/test_train.py checks that)
        "loss_curve": {
            "train": [[1, 6.1], *([s, 6.1 - 0.1425 * s] for s in range(4, 41, 4))],
            "validation": [[8, 5.2], [16, 4.0], [24, 2.1], [32, 0.9], [40, 0.5]],
        },
    }
    (student / "training_summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every stage's output: journal, funnel, dataset, training summary, eval (served student)."""
    root = tmp_path_factory.mktemp("report")
    with SimServer(SimConfig(answers=evalkit.student_answer_fn(wrong_every=4))) as sim:
        cfg = evalkit.make_run(
            root,
            eval_cfg={
                "student_endpoint": {"base_url": sim.openai_base_url, "model": "sim-teacher"},
                "student_cost_per_hour": 0.05,
                "training_cost_per_hour": 0.5,
                "monthly_requests": 1_000_000,
            },
        )
        _training_summary(cfg)
        from evals.run import evaluate

        evaluate(cfg)
    return cfg


def test_html_report_has_every_section_and_embeds_its_charts(full_run: Any, tmp_path: Path) -> None:
    html_path, md_path = write_report(full_run, tmp_path / "r.html", tmp_path / "r.md")
    html = html_path.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
    assert "No harvest yet" not in html and "No eval yet" not in html
    charts = re.findall(
        r'<img src="data:image/svg\+xml;base64,([^"]+)"[^>]*data-chart="([^"]+)"', html
    )
    names = {name for _, name in charts}
    assert {
        "cost_over_time",
        "cost_per_model",
        "tokens_over_time",
        "retries_over_time",
        "funnel",
        "quality",
        "confusion",
        "confusion_gold",
        "cost_per_1k",
        "break_even",
        "loss_curve",
        "latency",
    } <= names
    for data, _ in charts:
        assert base64.b64decode(data).lstrip().startswith(b"<?xml")
    # self-contained: nothing to fetch, no script
    assert not re.search(r'(?:src|href)="(?!data:|#)', html)
    assert (
        "<script" not in html
        and "<link" not in html
        and "url(" not in html
        and "@import" not in html
    )
    assert "break-even" in html and "12 items of the test split" in html
    assert "built-in method" not in html and "object at 0x" not in html
    for block in BLOCKS:
        assert f'id="{block}"' in html, block
    assert "<h4>teacher vs gold</h4>" in html and "<h4>student vs gold</h4>" in html
    # the teacher's latency is the journal's (0.05 s each), the student's the eval's requests
    assert '<td>teacher</td><td class="t">59</td><td class="t">50 ms</td>' in html

    md = md_path.read_text(encoding="utf-8")
    for heading in ("## Harvest", "## Build", "## Training", "## Student vs teacher", "## Cost"):
        assert heading in md
    assert "break-even volume" in md and "failures.jsonl" in md
    for heading in (
        "### Precision, recall and F1 per label: student vs teacher",
        "### Precision, recall and F1 per label: teacher vs gold",
        "### Latency per item",
        "### Where the student and the teacher disagree",
    ):
        assert heading in md
    assert "Validation loss by step: step 8: 5.2" in md
    assert str(full_run.run_dir.resolve()) not in md, "no absolute machine path in the Markdown"


def test_disagreement_examples_are_escaped_bounded_and_clipped(
    full_run: Any, tmp_path: Path
) -> None:
    from evals.report.collect import EXAMPLES_SHOWN

    data, path = _hostile_page(full_run, tmp_path)
    html = path.read_text(encoding="utf-8")
    block = html[html.index('id="disagreements"') :]
    block = block[: block.index("</table>")]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    assert block.count("<tr>") == 1 + EXAMPLES_SHOWN  # the header, then the first 20 of 25
    assert f"The first {EXAMPLES_SHOWN} of 25" in html
    # a long input is clipped on the row, the whole text a click away
    summary = re.search(r"<summary>(word0 [^<]*)</summary>", block)
    assert summary is not None and summary.group(1).endswith(" …")
    assert len(summary.group(1)) <= 242
    assert '<div class="full">' + " ".join(f"word{i}" for i in range(300)) + "</div>" in block
    # Markdown: one line a row, pipes escaped, no raw markup
    from evals.report.markdown import render_markdown

    md = render_markdown(data)
    row = next(line for line in md.splitlines() if line.startswith("| ticket 0:"))
    assert row.startswith("| ticket 0: a \\| b second line | &lt;script>alert(1)&lt;/script> |")
    assert "<script>" not in md


def _hostile_page(cfg: Any, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The full run's report with a predictions.jsonl (as evals.run writes it) of 25
    disagreements: markup in the answers, a pipe, newlines, a 300-word input."""
    from evals.report.collect import collect, read_predictions
    from evals.report.html import render_html

    preds = tmp_path / "predictions.jsonl"
    with preds.open("w", encoding="utf-8") as f:
        long = " ".join(f"word{i}" for i in range(300))
        for i in range(25):
            text = long if i == 1 else f"ticket {i}: a | b\nsecond line"
            line = {
                "key": f"k{i}",
                "input": {"id": i, "text": text, "gold": "billing"},
                "teacher": "<script>alert(1)</script>",
                "student": "shipping",
                "gold": "billing",
                "agree": False,
                "latency_s": 0.01,
                "item_s": 0.01,
                "output_tokens": 2,
                "error": None,
            }
            f.write(json.dumps(line) + "\n")
    data = collect(cfg)
    data["predictions"] = read_predictions(preds)
    path = tmp_path / "hostile.html"
    path.write_text(render_html(data), encoding="utf-8")
    return data, path


def test_report_json_extras(full_run: Any) -> None:
    extras = report_json_extras(full_run)
    e, c = extras["eval"], extras["cost_comparison"]
    assert e["task"] == "classification" and e["items"] == 12
    assert e["gap"]["basis"] == "gold" and 0 < e["gap"]["fraction"] <= 1.5
    assert e["performance"]["items_per_s"] > 0
    failures = Path(e["failures_file"]).read_text().splitlines()
    assert e["failures"] == len(failures) == e["disagreements"] > 0
    assert c["teacher"]["per_1k_usd"] == 0.125
    assert c["student"]["per_1k_usd"] is not None and c["break_even_requests"] is not None
    assert c["one_off"]["training_usd"] == pytest.approx(20 * 0.5 / 3600, abs=1e-9)
    # the report's new figures: per-label P/R/F1, the examples, both latencies
    assert set(e["metrics"]["per_class"]) == {
        "student_vs_teacher",
        "student_vs_gold",
        "teacher_vs_gold",
    }
    examples = e["disagreement_examples"]
    assert len(examples) == e["disagreements"] and all(
        x["teacher"] != x["student"] for x in examples
    )
    assert extras["teacher_latency"]["items"] == 59 and extras["teacher_latency"]["p50_s"] == 0.05
    assert e["performance"]["item_latency"]["items"] == 12
    json.dumps(extras)


def test_sections_without_data_say_what_to_run(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path, journal=False, dataset=False, funnel=False)
    html_path, md_path = write_report(cfg, tmp_path / "empty.html", tmp_path / "empty.md")
    html = html_path.read_text()
    for text in (
        "No harvest yet",
        "No dataset build yet",
        "No student yet",
        "No eval yet",
        "No cost comparison yet",
    ):
        assert text in html
    assert "<img" not in html
    assert "No eval yet" in md_path.read_text()
    assert report_json_extras(cfg) == {
        "eval": None,
        "cost_comparison": None,
        "teacher_latency": None,
    }

    # default paths: both files in the run folder
    assert write_report(cfg) == [cfg.run_dir / "report.html", cfg.run_dir / "report.md"]


def test_harvest_only_and_a_self_hosted_teacher(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path, dataset=False, price={"per_hour": 2.0})
    (html_path,) = write_report(cfg, tmp_path / "h.html")
    html = html_path.read_text()
    assert "self-hosted, priced per hour: $2.00/h" in html
    assert "No eval yet" in html and "No student yet" in html
    assert 'data-chart="funnel"' in html and 'data-chart="cost_over_time"' in html


# -- in a real browser ----------------------------------------------------------------------


class DevTools:
    """Chromium's DevTools protocol over `--remote-debugging-pipe` (fds 3 and 4, messages
    separated by NUL): no websocket client needed."""

    def __init__(self, user_data_dir: Path) -> None:
        assert CHROMIUM is not None
        ours_in, theirs_out = os.pipe()  # chromium writes fd 4 → we read
        theirs_in, ours_out = os.pipe()  # we write → chromium reads fd 3

        def child_fds() -> None:
            os.dup2(theirs_in, 3)
            os.dup2(theirs_out, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={user_data_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=child_fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(theirs_in)
        os.close(theirs_out)
        self.rfd, self.wfd = ours_in, ours_out
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for e in self.events:
            if e.get("method") == method:
                return e
        deadline = time.monotonic() + timeout
        while True:
            e = self._read(deadline)
            self.events.append(e)
            if e.get("method") == method:
                return e

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, EOFError, TimeoutError, AssertionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.rfd)
        os.close(self.wfd)


def _open(browser: DevTools, path: Path, width: int = 1200) -> tuple[str, dict[str, Any]]:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
        session=session,
    )
    browser.events.clear()
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired")
    probe = """JSON.stringify({
        title: document.title,
        sections: [...document.querySelectorAll('section')].map(s => s.id),
        blocks: [...document.querySelectorAll('section [id]')].map(e => e.id),
        ids: [...document.querySelectorAll('[id]')].map(e => e.id),
        images: [...document.images].map(i => ({chart: i.dataset.chart, ok: i.complete && i.naturalWidth > 0})),
        empty: [...document.querySelectorAll('.empty')].length,
        height: document.documentElement.scrollHeight,
        scroll_width: document.documentElement.scrollWidth,
        client_width: document.documentElement.clientWidth,
        wide: [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                && !e.closest('table'))
            .slice(0, 5).map(e => e.tagName + '.' + e.className),
    })"""
    result = browser.send(
        "Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session
    )
    return session, json.loads(result["result"]["value"])


def _problems(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            out.append(f"exception: {p['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in (
            "error",
            "assert",
            "warning",
        ):
            out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            out.append(f"log {p['entry']['level']}: {p['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                out.append(f"network fetch: {url}")
        elif method == "Network.loadingFailed":
            out.append(f"load failed: {p.get('errorText')}")
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_a_headless_browser(full_run: Any, tmp_path: Path) -> None:
    full_html, _ = write_report(full_run, tmp_path / "full.html", tmp_path / "full.md")
    empty_cfg = evalkit.make_run(tmp_path / "empty", journal=False, dataset=False, funnel=False)
    (empty_html,) = write_report(empty_cfg, tmp_path / "empty.html")

    browser = DevTools(tmp_path / "chromium-profile")
    try:
        session, page = _open(browser, full_html)
        problems = _problems(browser.events)
        shot = browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1200, "height": page["height"], "scale": 1},
            },
            session=session,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        png = base64.b64decode(shot["data"])
        (ARTIFACTS / "report.png").write_bytes(png)

        _, empty_page = _open(browser, empty_html)
        empty_problems = _problems(browser.events)
    finally:
        browser.close()

    assert page["title"] == "distill report: tickets"
    assert page["sections"] == SECTIONS
    assert len(page["images"]) >= 10 and all(i["ok"] for i in page["images"]), page["images"]
    assert page["empty"] == 0
    assert problems == []
    assert png.startswith(b"\x89PNG") and len(png) > 20_000

    assert (
        empty_page["sections"] == SECTIONS
        and empty_page["images"] == []
        and empty_page["empty"] == 5
    )
    assert empty_problems == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [1400, 420])
def test_report_fits_the_screen_without_horizontal_scroll(
    full_run: Any, tmp_path: Path, width: int
) -> None:
    (html,) = write_report(full_run, tmp_path / "r.html")
    text = html.read_text()
    assert str(full_run.run_dir.resolve()) not in text, "no absolute machine path on the page"
    _, hostile = _hostile_page(full_run, tmp_path)  # long, clipped examples
    browser = DevTools(tmp_path / "chromium-profile")
    try:
        pages = []
        for path in (html, hostile):
            _, page = _open(browser, path, width)
            pages.append((page, _problems(browser.events)))
    finally:
        browser.close()
    for page, problems in pages:
        assert page["sections"] == SECTIONS
        assert [b for b in BLOCKS if b in page["blocks"]] == BLOCKS, page["blocks"]
        charts = {i["chart"] for i in page["images"]}
        assert {"loss_curve", "latency"} <= charts
        assert all(i["ok"] for i in page["images"]) and len(page["images"]) >= 12
        assert page["scroll_width"] <= page["client_width"], (page["scroll_width"], page["wide"])
        assert page["wide"] == []
        assert problems == []
