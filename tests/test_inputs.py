"""The inputs file as users hand it over: every problem named on its line, before anything is
sent, and nothing that silently shrinks or empties the harvest."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.errors import InputError
from synth.inputs import iter_records
from tests.conftest import distill, make_run


def test_a_non_utf8_byte_is_reported_on_its_own_line(tmp_path: Path) -> None:
    # enough good lines before it that a chunked decoder would blame another line
    good = b"".join(b'{"text": "ticket %d padded %s"}\n' % (i, b"x" * 200) for i in range(400))
    path = tmp_path / "in.jsonl"
    path.write_bytes(good + b'{"text": "caf\xe9"}\n' + good)
    with pytest.raises(
        InputError, match=r"in.jsonl:401: not valid UTF-8 \(byte 0xe9 at column 14\)"
    ):
        list(iter_records(path))


def test_a_utf8_bom_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n')
    assert list(iter_records(path)) == [(1, {"text": "a"})]


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_inputs_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=r"in.jsonl: no inputs: the file is empty"):
        list(iter_records(path))


def test_harvest_of_an_empty_file_says_so_and_sends_nothing(tmp_path: Path, sim) -> None:
    run = make_run(tmp_path, sim.openai_base_url, records=[])
    r = distill("harvest", str(run.config))
    assert r.returncode != 0
    assert "in.jsonl: no inputs: the file is empty" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    assert sim.ledger()["entries"] == []


def test_repeated_input_lines_are_said_and_asked_once(tmp_path: Path, sim) -> None:
    records = [{"text": "refund please"}, {"text": "where is my parcel"}, {"text": "refund please"}]
    records.append({"text": "refund please"})
    run = make_run(tmp_path, sim.openai_base_url, records=records)
    r = distill("harvest", str(run.config))
    assert r.returncode == 0, r.stderr
    assert "2/2 answered" in r.stdout
    assert "2 input lines repeat an earlier line's prompt exactly; each was asked once" in r.stdout
    assert len(sim.ledger()["entries"]) == 2


# -- CSV, Parquet and Hugging Face datasets ---------------------------------------------------

TICKETS = [
    {"id": "007", "body": "I was charged twice for my order", "company": "Acme"},
    {"id": "008", "body": "Where is my parcel?", "company": "Acme"},
    {"id": "009", "body": "Please refund my order", "company": "Initech"},
]


def _csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_csv_rows_keep_strings_and_columns_map_to_fields(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", TICKETS)
    got = list(iter_records(path, columns={"text": "body"}))
    assert [n for n, _ in got] == [1, 2, 3]
    assert got[0][1]["id"] == "007", "an id column stays a string"
    assert [r["text"] for _, r in got] == [t["body"] for t in TICKETS]


def test_parquet_rows_stream_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synth import inputs

    rows = [{"body": f"ticket {i}", "n": i} for i in range(1000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet", row_group_size=100)
    monkeypatch.setattr(inputs, "BATCH_ROWS", 64)
    got = list(iter_records(tmp_path / "t.parquet", columns={"text": "body"}))
    assert len(got) == 1000 and got[-1] == (
        1000,
        {"body": "ticket 999", "n": 999, "text": "ticket 999"},
    )


def test_a_parquet_file_is_never_read_whole(tmp_path: Path) -> None:
    """Reading a 30 MB Parquet file holds a few MB of Arrow memory at a time, not the file:
    pyarrow's default pre-buffering read it all ahead."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "big.parquet"
    words = "invoice delivery password refund courier login package charged".split()
    text = pa.array(
        [" ".join(words[(i + j) % 8] for j in range(20)) + f" {i}" for i in range(200_000)]
    )
    pq.write_table(pa.table({"text": text}), path, row_group_size=50_000, compression="none")
    assert path.stat().st_size > 25 * 2**20
    code = (
        "import sys, pyarrow as pa; from synth.inputs import iter_records\n"
        "n = sum(1 for _ in iter_records(sys.argv[1]))\n"
        "print(n, pa.default_memory_pool().max_memory())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) == 200_000
    assert int(out[1]) < 10 * 2**20, f"{int(out[1]) / 2**20:.0f} MB of Arrow memory at once"


def test_a_column_the_mapping_names_but_the_file_lacks_is_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", TICKETS)
    with pytest.raises(
        InputError,
        match=r"t.csv: row 1: no column 'message' \(input_columns.text\); columns: id, body, company",
    ):
        list(iter_records(path, columns={"text": "message"}))


def test_a_template_field_missing_from_a_csv_names_the_row(tmp_path: Path) -> None:
    from synth.inputs import render_records
    from synth.templates import load_template

    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "t.yaml").write_text("user: '{{ text }}'\n")
    path = _csv(tmp_path / "t.csv", TICKETS)
    with pytest.raises(InputError, match=r"t.csv: row 1: record has no field 'text'"):
        list(render_records(path, load_template("t", tmp_path)))


def test_a_csv_with_a_ragged_row_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,body\n1,a\n2,b,extra\n")
    with pytest.raises(InputError, match=r"t.csv: cannot read after row 0: .*Expected 2 columns"):
        list(iter_records(path))


def test_hf_save_to_disk_folder_with_split(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(TICKETS),
            "test": datasets.Dataset.from_list(TICKETS[:1]),
        }
    )
    dd.save_to_disk(str(tmp_path / "ds"))
    got = list(iter_records(f"hf:{tmp_path / 'ds'}", split="test", columns={"text": "body"}))
    assert got == [(1, {**TICKETS[0], "text": TICKETS[0]["body"]})]
    with pytest.raises(
        InputError, match=r"no split 'validation' \(input_split\); splits: train, test"
    ):
        list(iter_records(f"hf:{tmp_path / 'ds'}", split="validation"))


def test_hf_local_data_folder_is_streamed(tmp_path: Path) -> None:
    import json

    (tmp_path / "data").mkdir()
    with (tmp_path / "data" / "train.jsonl").open("w") as f:
        for t in TICKETS:
            f.write(json.dumps(t) + "\n")
    got = list(iter_records(f"hf:{tmp_path / 'data'}", split="train"))
    assert [r["body"] for _, r in got] == [t["body"] for t in TICKETS]


def test_harvest_from_csv_with_columns_imports_no_training_library(tmp_path: Path, sim) -> None:
    import yaml

    run = make_run(tmp_path, sim.openai_base_url, n=1)
    _csv(tmp_path / "tickets.csv", TICKETS)
    cfg = yaml.safe_load(run.config.read_text())
    cfg.update(inputs="tickets.csv", input_columns={"text": "body"})
    run.config.write_text(yaml.safe_dump(cfg))
    code = (
        "import sys; from synth.cli.verbs import app\n"
        f'try: app(["harvest", {str(run.config)!r}])\n'
        "except SystemExit as e: assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "3/3 answered" in r.stdout
    assert "HEAVY []" in r.stdout
    assert len(sim.ledger()["entries"]) == 3
