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
