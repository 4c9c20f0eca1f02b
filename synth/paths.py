"""Every file and folder of a run, named once. Stages read and write through `RunPaths`
(`cfg.paths`), so a file's name is spelt in this module only:

    <runs_dir>/<name>/
      journal.sqlite              harvest: every request, answer, retry and dollar
      build/funnel.json           build: counts and dollars per filter
      build/rejected.jsonl        build: every rejected answer and why
      dataset/                    build: the Hugging Face DatasetDict (save_to_disk)
      student/                    train: the LoRA adapter (or full model)
      student/merged/             train: the merged model (a LoRA student's, unless merge: false)
      student/checkpoints/        train: the checkpoints a resumed training starts from
      student/training_summary.json
      eval/metrics.json metrics.md predictions.jsonl failures.jsonl
      export/openai/              distill export --format openai: train.jsonl, validation.jsonl
      stamps/                     distill run: what each finished stage was made from
      rounds/inputs.jsonl         rounds: the pool items sent so far, in round order
      rounds/<k>/student/         rounds: round k's student (without its checkpoints)
      report.html report.md       distill run / distill report --html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the merged model's folder inside a student folder (the eval loads it from there first)
MERGED = "merged"


@dataclass(frozen=True)
class RunPaths:
    root: Path  # <runs_dir>/<name>

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def funnel(self) -> Path:
        return self.build / "funnel.json"

    @property
    def rejected(self) -> Path:
        return self.build / "rejected.jsonl"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def merged(self) -> Path:
        return self.student / MERGED

    @property
    def checkpoints(self) -> Path:
        return self.student / "checkpoints"

    @property
    def training_summary(self) -> Path:
        return self.student / "training_summary.json"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def eval_files(self) -> dict[str, Path]:
        """What `distill eval` writes, by the names metrics.json's `files` lists them under."""
        return {
            "metrics": self.eval / "metrics.json",
            "markdown": self.eval / "metrics.md",
            "predictions": self.eval / "predictions.jsonl",
            "failures": self.eval / "failures.jsonl",
        }

    @property
    def metrics(self) -> Path:
        return self.eval_files["metrics"]

    @property
    def stamps(self) -> Path:
        return self.root / "stamps"

    def export(self, fmt: str) -> Path:
        """`distill export --format FMT`'s default folder."""
        return self.root / "export" / fmt

    @property
    def rounds(self) -> Path:
        return self.root / "rounds"

    @property
    def rounds_inputs(self) -> Path:
        return self.rounds / "inputs.jsonl"

    def round_student(self, k: int) -> Path:
        return self.rounds / str(k) / "student"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"
