"""`distill`: one verb per stage. Each verb parses, calls one library function, prints.

Heavy libraries (torch, transformers, trl, datasets) are imported inside the verbs that need
them, so `distill harvest` starts fast.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from synth.errors import ConfigError, DistillError
from synth.journal.lock import run_lock

# typer writes a required argument `{NAME}` in usage lines; the convention (click's) is NAME
typer.core.TyperArgument._usage_display_name = lambda self: (  # type: ignore[method-assign]
    self.display_name_raw + ("..." if self.nargs != 1 else "")
)

# Plain click help (not typer's rich panels): `Usage: distill harvest [OPTIONS] CONFIG`, flags
# without a `<bool>` type, and the same page style as `distill sim --help`; `-h` as `--help`.
HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Distil a frontier model's behaviour on one task into a small student.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP,
)
templates_app = typer.Typer(
    no_args_is_help=True,
    help="List, show and try prompt templates.",
    rich_markup_mode=None,
    context_settings=HELP,
)
app.add_typer(templates_app, name="templates")

out = Console()
err = Console(stderr=True)


F = TypeVar("F", bound=Callable[..., Any])
ConfigArg = Annotated[
    Path, typer.Argument(help="the run's YAML config", show_default=False, metavar="CONFIG")
]
# `--set student.epochs=1 --set teacher.concurrency=4`: any config key, for this run only
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="override a config key for this command (repeatable); VALUE is read as YAML",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"distill {version('distill')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("distill (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    _: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Distil a frontier model's behaviour on one task into a small student."""


class ItemState(StrEnum):
    """A journal item's state, as `distill logs --state` takes it."""

    done = "done"
    failed = "failed"
    pending = "pending"
    in_flight = "in_flight"


def fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """A user's mistake is one line and an exit code; a traceback means a bug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DistillError as e:
            fail(str(e), e.exit_code)
        except sqlite3.DatabaseError as e:  # a journal damaged where only a later read sees it
            fail(
                f"a run's journal cannot be read ({e}): it is damaged or cut short; move "
                "<run>/journal.sqlite aside (keep a copy) and run again",
                2,
            )
        except KeyboardInterrupt:
            err.print(
                "[yellow]interrupted:[/] run the same command again to carry on where it stopped"
            )
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _load(
    config: Path, sets: list[str] | None = None, overrides: dict[str, Any] | None = None
) -> Any:
    from synth.config import load_config

    return load_config(config, overrides, sets or ())


@app.command()
@user_errors
def harvest(
    config: ConfigArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="estimate tokens and cost; send nothing")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="send items that failed before again")
    ] = False,
    inputs: Annotated[
        Path | None,
        typer.Option(
            help="another inputs file (e.g. <run>/eval/failures.jsonl); its answers are added "
            "to those build reads"
        ),
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="override budget_usd")] = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="teacher.mode batch: submit the batches and exit; collect later"
        ),
    ] = False,
    sets: SetOpt = None,
) -> None:
    """Send every input to the teacher once; resumable; never over budget."""
    from synth.cli.progress import harvest_progress
    from synth.cli.stamps import record_stage
    from synth.harvest.engine import HarvestStats
    from synth.harvest.engine import dry_run as do_dry_run
    from synth.harvest.engine import harvest as do_harvest
    from synth.harvest.estimate import current_mode, mode_estimates, mode_table

    overrides: dict[str, Any] = {}
    if inputs is not None:
        overrides["inputs"] = str(inputs.resolve())
    if budget is not None:
        overrides["budget_usd"] = budget
    cfg = _load(config, sets, overrides)
    if cfg.rounds is not None:
        # the rounds pick what to send from the pool; harvesting inputs: here would skip them
        raise ConfigError(
            f"{config}: rounds: is set, so the pool is sent round by round: run "
            f"distill run {config} (distill harvest does not drive rounds)"
        )
    if dry_run:
        d = do_dry_run(cfg)
        out.print(
            f"[bold]dry run[/] · {cfg.teacher.provider}/{cfg.teacher.model} · price: {d.price.source}\n"
            f"  items            {d.items:,} ({d.already_done:,} already answered, {d.to_send:,} to send)\n"
            f"  input tokens     ~{d.est_input_tokens:,} (estimate)\n"
            f"  output tokens    at most {d.max_output_tokens:,}\n"
            f"  estimated cost   ${d.est_cost_usd:,.4f} (half of max_tokens per answer)\n"
            f"  worst case       ${d.worst_case_usd:,.4f}"
            + (f"  (budget ${cfg.budget_usd:,.2f})" if cfg.budget_usd is not None else ""),
            highlight=False,
        )
        out.print(mode_table(mode_estimates(cfg), current_mode(cfg)))
        return
    result = do_harvest(
        cfg,
        stats=HarvestStats(),
        retry_failed=retry_failed,
        progress=lambda s: harvest_progress(s, err),
        add_to_plan=inputs is not None,  # another file: its answers join the dataset's
        wait=not no_wait,
    )
    s = result.stats
    if inputs is None and result.status not in ("submitted", "pending"):
        record_stage(cfg, "harvest")  # a `distill run` next skips it, as after its own harvest
    if s.batches:
        out.print(s.batches, highlight=False)
    if result.status == "submitted":
        out.print(
            f"batches submitted; run distill harvest {config} again to collect their answers",
            highlight=False,
        )
        return
    if result.status == "pending":
        out.print(
            f"some items came back unanswered (expired, cancelled or a server error): run "
            f"distill harvest {config} again to send them in new batches",
            highlight=False,
        )
    unknown = (
        f" (+ ${s.possibly_billed_usd:,.4f} possibly billed: timed out or dropped, worst case)"
        if s.possibly_billed_usd
        else ""
    )
    out.print(
        f"harvest finished: {s.already_done + s.done:,}/{s.total:,} answered ({s.done:,} now), "
        f"{s.failed:,} failed, ${s.spent_usd:,.4f} this run{unknown}, {result.wall_s:.1f} s"
        + (f" · failed items by reason: distill report {config}" if s.failed else ""),
        highlight=False,
    )
    if s.repeated_inputs:
        out.print(
            f"note: {s.repeated_inputs:,} input lines repeat an earlier line's prompt exactly; "
            "each was asked once",
            highlight=False,
        )
    if s.usage_flagged:
        err.print(
            f"[yellow]warning:[/] {s.usage_flagged:,} answers came with usage missing or "
            "impossible for their request: each is priced at its worst case",
            highlight=False,
        )
    if s.failed_earlier:
        err.print(
            f"{s.failed_earlier:,} items failed in an earlier run and were not sent again: "
            f"distill harvest {config} --retry-failed sends them (reasons: distill report {config})",
            highlight=False,
        )


@app.command()
@user_errors
def report(
    config: ConfigArg,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    html: Annotated[
        Path | None, typer.Option(help="write a self-contained HTML report here")
    ] = None,
    md: Annotated[Path | None, typer.Option(help="write a Markdown report here")] = None,
    sets: SetOpt = None,
) -> None:
    """What the teacher cost; with the later stages, what the student costs and the gap."""
    from synth.harvest.cost_report import cost_report, cost_table, failures_table

    for flag, target in (("--html", html), ("--md", md)):
        if target is not None and target.is_dir():
            fail(
                f"{flag} {target}: is a folder; give a file name, e.g. {target / ('report' + flag[1:].replace('-', '.'))}",
                2,
            )
        if target is not None and not target.parent.is_dir():
            fail(f"{flag} {target}: folder {target.parent} does not exist; create it first", 2)
    cfg = _load(config, sets)
    data = cost_report(cfg)
    if as_json or html or md:
        from evals.report import report_json_extras, write_report

        if html or md:
            paths = write_report(cfg, html_path=html, md_path=md)
            for p in paths:
                err.print(f"wrote {p}")
        if as_json:
            data.update(report_json_extras(cfg))
            print(json.dumps(data, indent=2, default=str))
        return
    out.print(cost_table(data))
    if (failed := failures_table(data, str(config))) is not None:
        out.print(failed)
    _print_eval_and_cost(cfg)


def _print_eval_and_cost(cfg: Any) -> None:
    """Once eval ran: the student's quality against the teacher, its cost and the break-even,
    as `--md` writes them."""
    from rich.markdown import Markdown

    from evals.cost import cost_comparison
    from evals.markdown import cost_section, eval_section
    from evals.report.collect import teacher_latency

    if not cfg.paths.metrics.exists():
        return
    metrics = json.loads(cfg.paths.metrics.read_text(encoding="utf-8"))
    out.print(Markdown(eval_section(metrics, teacher_latency=teacher_latency(cfg))))
    if (cost := cost_comparison(cfg, metrics)) is not None:
        out.print(Markdown(cost_section(cost)))


@app.command()
@user_errors
def logs(
    config: ConfigArg,
    n: Annotated[int, typer.Option("-n", "--count", help="how many items, newest last")] = 10,
    state: Annotated[
        ItemState | None, typer.Option(help="only items in this state", show_default=False)
    ] = None,
    grep: Annotated[
        str | None, typer.Option(help="only items whose input or answer contains this text")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    sets: SetOpt = None,
) -> None:
    """What the teacher answered: the last items of the journal, read-only."""
    from synth.cli.logs import print_logs

    print_logs(
        _load(config, sets),
        n=n,
        state=state.value if state else None,
        grep=grep,
        as_json=as_json,
        console=out,
    )


@app.command()
@user_errors
def build(
    config: ConfigArg,
    push_to_hub: Annotated[
        str | None, typer.Option(help="also push the dataset to this Hub repo")
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Filter the teacher's answers into a Hugging Face dataset (train/validation/test)."""
    from synth.cli.stamps import record_stage
    from synth.dataset.builder import build as do_build
    from synth.dataset.funnel import funnel_table

    cfg = _load(config, sets)
    with run_lock(cfg.run_dir, "build"):  # not while a harvest writes the journal
        result = do_build(cfg, push_to_hub=push_to_hub)
        record_stage(cfg, "build")
    out.print(funnel_table(result.funnel))
    out.print(f"dataset: {result.dataset_dir}  ({result.summary()})", highlight=False)


@app.command()
@user_errors
def train(
    config: ConfigArg,
    no_resume: Annotated[
        bool, typer.Option("--no-resume", help="start over instead of resuming")
    ] = False,
    sets: SetOpt = None,
) -> None:
    """Fine-tune the student (TRL SFT + PEFT LoRA) on the built dataset."""
    from evals.model_card import write_model_card
    from finetune.train import train as do_train
    from synth.cli.progress import step_progress
    from synth.cli.stamps import record_stage

    cfg = _load(config, sets)
    push = cfg.student is not None and cfg.student.push_to_hub
    if push:
        from finetune.push import hub_token

        hub_token()  # before training: a missing token is found now, not after it
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, one process writes and pushes
    # under torchrun every process runs this command: the first holds the run folder for all
    lock = run_lock(cfg.run_dir, "train") if main else contextlib.nullcontext()
    with lock, step_progress("train", err) as progress:
        result = do_train(cfg, resume=not no_resume, progress=progress)
    if main:
        write_model_card(cfg)
        record_stage(cfg, "train")
    out.print(result.describe(), highlight=False)
    if push and main:
        from finetune.push import push_student

        out.print(f"  pushed: {push_student(cfg)}", highlight=False)


@app.command(name="eval")
@user_errors
def evaluate(config: ConfigArg, sets: SetOpt = None) -> None:
    """Measure the student against the teacher (and gold labels) on held-out data."""
    from evals.model_card import write_model_card
    from evals.run import evaluate as do_eval
    from synth.cli.progress import step_progress
    from synth.cli.stamps import record_stage

    cfg = _load(config, sets)
    with step_progress("eval", err) as progress:
        result = do_eval(cfg, progress=progress)
    write_model_card(cfg)
    record_stage(cfg, "eval")
    out.print(result.describe(), highlight=False)


@app.command()
@user_errors
def predict(
    config: ConfigArg,
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            metavar="JSONL|TEXT",
            help="a JSONL file of input records, or one input: a JSON object, or the text of "
            "the template's only field",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    sets: SetOpt = None,
) -> None:
    """The trained student's answers: prompted as in training, read as the eval reads them."""
    from evals.predict import predict as do_predict

    for p in do_predict(_load(config, sets), input):
        if as_json:
            print(json.dumps(p.as_json(), ensure_ascii=False))
        else:
            answer = p.answer if isinstance(p.answer, str) else json.dumps(p.answer)
            shown = answer if p.error is None else f"{p.text!r} ({p.error})"
            print(f"{p.line}\t{shown}")  # tab-separated, for cut and awk


class ExportFormat(StrEnum):
    openai = "openai"
    gguf = "gguf"


@app.command()
@user_errors
def export(
    config: ConfigArg,
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="openai: messages-only chat JSONL of the training conversations, for hosted "
            "fine-tuning; gguf: for llama.cpp and Ollama (says what to install)",
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="default: <run>/export/<format>/"),
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Write the run's dataset or student in another tool's format."""
    from synth.dataset.export import export as do_export

    result = do_export(_load(config, sets), format.value, out_dir)
    out.print(result.describe(), highlight=False)


@app.command()
@user_errors
def run(
    config: ConfigArg,
    force: Annotated[
        bool, typer.Option(help="redo every stage even when its output is current")
    ] = False,
    sets: SetOpt = None,
) -> None:
    """Harvest → build → train → eval → report, skipping stages whose output is current."""
    from synth.cli.pipeline import run_pipeline, stages_table

    cfg = _load(config, sets)
    result = run_pipeline(cfg, console=err, force=force)
    out.print(stages_table(result))
    out.print(f"report: {result.html_path}", highlight=False)


@app.command()
@user_errors
def demo(
    dir: Annotated[Path, typer.Option("--dir", help="where the demo's run goes")] = Path(
        "demo-run"
    ),
    items: Annotated[int | None, typer.Option(help="use only the first N tickets (faster)")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="a smaller student, one epoch, a faster teacher")
    ] = False,
) -> None:
    """The whole pipeline offline: simulated teacher, bundled tickets, a tiny student."""
    from synth.cli.demo import run_demo

    summary = run_demo(dir, console=err, items=items, quick=quick)
    out.print(summary)


def _sim_verb() -> Callable[..., None]:
    """`distill sim`: the same flags as `python -m synth.sim` (one per SimConfig field), in the
    help style of every other verb; the values go to the simulator's own parser unchanged."""
    import inspect

    from synth.sim.config import NOT_A_FLAG, SimConfig

    def opt(flag: str, help: str, metavar: str = "VALUE") -> Any:
        return typer.Option(flag, help=help, metavar=metavar, show_default=False)

    params = [
        ("host", "--host", "127.0.0.1 unless told otherwise", "HOST"),
        ("port", "--port", "0 picks a free port (default: 8765)", "N"),
        ("log_level", "--log-level", "uvicorn's log level (default: warning)", "LEVEL"),
        ("config", "--config", "a JSON or YAML file of the knobs below", "FILE"),
        ("require_key_env", "--require-key-env", "require the key held in $NAME", "NAME"),
    ]
    defaults = SimConfig().model_dump()
    params += [
        (name, "--" + name.replace("_", "-"), f"{f.description} (default: {defaults[name]})", "")
        for name, f in SimConfig.model_fields.items()
        if name not in NOT_A_FLAG
    ]
    flags = {name: flag for name, flag, _, _ in params}

    def sim(**values: str | None) -> None:
        from synth.sim.__main__ import main as sim_main

        argv = [a for k, v in values.items() if v is not None for a in (flags[k], v)]
        sys.exit(sim_main(argv))

    sim.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[str | None, opt(flag, help, metavar or "VALUE")],
            )
            for name, flag, help, metavar in params
        ]
    )
    sim.__annotations__ = {p: str | None for p in flags}
    sim.__doc__ = "Run the simulated teacher (OpenAI and Anthropic APIs) on 127.0.0.1."
    return sim


app.command(name="sim")(user_errors(_sim_verb()))


@app.command(name="tiny-student")
@user_errors
def tiny_student(
    path: Annotated[Path, typer.Argument(help="folder to write the model to")],
    config: Annotated[
        Path | None, typer.Option(help="train the tokenizer on this run's dataset/inputs")
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Build a tiny random-init Llama-style student with its own tokenizer (no download)."""
    from finetune.tiny import build_tiny_student_cli

    if sets and config is None:
        fail("--set overrides a run config's keys: give --config CONFIG too", 2)
    out.print(f"wrote {build_tiny_student_cli(path, _load(config, sets) if config else None)}")


@templates_app.command("list")
@user_errors
def templates_list() -> None:
    """Templates found by name (./prompts, then the bundled ones)."""
    from rich.table import Table

    from synth.templates import iter_templates, load_template

    table = Table("name", "task", "description")
    table.add_column("path", overflow="fold")  # wrapped, never cut with "…"
    for name, path in iter_templates(Path.cwd()):
        t = load_template(str(path))
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        table.add_row(name, t.task, t.description, str(shown))
    out.print(table)


@templates_app.command("show")
@user_errors
def templates_show(name: str) -> None:
    """Print a template's file."""
    from synth.templates import find_template

    path = find_template(name, Path.cwd())
    out.print(f"# {path}", style="dim", highlight=False)
    print(path.read_text(encoding="utf-8"), end="")


@templates_app.command("render")
@user_errors
def templates_render(
    name: str,
    inputs: Annotated[Path, typer.Option(help="an inputs JSONL file")],
    line: Annotated[int, typer.Option(help="1-based line of the inputs file")] = 1,
) -> None:
    """Render a template over one input line: exactly the messages the teacher would get."""
    from synth.errors import InputError
    from synth.inputs import iter_records
    from synth.templates import load_template

    t = load_template(name, Path.cwd())
    for lineno, record in iter_records(inputs):
        if lineno == line:
            missing = [f for f in t.fields if f not in record]
            if missing:
                raise InputError(
                    f"{inputs}:{lineno}: record has no field '{missing[0]}' (template {t.name} uses it)"
                )
            for m in t.render(record):
                out.rule(m["role"], style="dim")
                print(m["content"])
            if t.labels:
                out.rule("labels", style="dim")
                print(", ".join(t.labels))
            return
    raise InputError(f"{inputs}: no line {line}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
