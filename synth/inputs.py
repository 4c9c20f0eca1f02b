"""Reading the inputs: where users keep them, streamed and checked record by record.

    in.jsonl / .json   one JSON object per line                     errors name the line
    in.csv             a header row, then one record per row        (pyarrow, in blocks)
    in.parquet         one record per row                           (pyarrow, in row batches)
    hf:NAME            a Hugging Face dataset: a hub name, a local data folder or script
                       (`datasets.load_dataset(..., streaming=True)`), or a `save_to_disk`
                       folder (memory-mapped); `input_split` picks the split

None of them is read whole into memory. `input_columns: {field: column}` maps a template field
to a column named otherwise. Every problem names the file and line or row (and the field, for
a record the template cannot render), so that a bad record is found before the first request
is sent. JSONL imports nothing heavy: `distill harvest` on it imports neither pyarrow nor
`datasets`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synth.errors import InputError, TemplateError
from synth.templates import Template


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded one line at a time so that a byte that is
    not UTF-8 is reported on its own line (a chunked decoder reports the chunk's)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: inputs file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an inputs file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read inputs: {e.strerror}") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                    f"{e.start + 1}); save the file as UTF-8"
                ) from None


HF_PREFIX = "hf:"
BATCH_ROWS = 4096  # rows held at once from a CSV, Parquet file or dataset


def where(path: Path | str, n: int) -> str:
    """How an error names record n: the line of a JSONL file, the row of anything else."""
    if _kind(path) == "jsonl":
        return f"{path}:{n}"
    return f"{path}: row {n}"


def _kind(path: Path | str) -> str:
    text = str(path)
    if text.startswith(HF_PREFIX):
        return "hf"
    suffix = Path(text).suffix.lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "jsonl")


def iter_records(
    path: Path | str, *, split: str = "train", columns: dict[str, str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, record) for each record; InputError on the first bad one, and on
    a source with no record at all (a harvest of nothing is a mistake, not a success).
    `columns` ({template field: column}) adds each field under its template name."""
    kind = _kind(path)
    if kind == "hf":
        rows = _hf(str(path), split)
    else:
        rows = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}[kind](Path(path), split)
    seen = False
    for n, record in rows:
        if columns:
            for field, column in columns.items():
                if column not in record:
                    have = ", ".join(list(record)[:12])
                    raise InputError(
                        f"{where(path, n)}: no column '{column}' (input_columns.{field}); "
                        f"columns: {have}"
                    )
                record[field] = record[column]
        seen = True
        yield n, record
    if not seen:
        what = "the file is empty (one JSON object per line)" if kind == "jsonl" else "no rows"
        raise InputError(f"{path}: no inputs: {what}")


def _jsonl(path: Path, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}"
            )
        yield lineno, record


def _arrow_batches(path: Path, open_batches: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a pyarrow batch reader, numbered from 1; a file pyarrow cannot read is one line."""
    import pyarrow as pa

    if not path.exists():
        raise InputError(f"{path}: inputs file not found")
    n = 0
    try:
        for batch in open_batches():
            for row in batch.to_pylist():
                n += 1
                yield n, row
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"{path}: cannot read after row {n}: {str(e).splitlines()[0]}") from None


def _csv(path: Path, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.csv as pacsv

    def batches() -> Any:
        import pyarrow as pa

        # every column a string, as the file has it ("007" is an id, not 7); a block at a time
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
        with pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        ) as reader:
            yield from reader

    yield from _arrow_batches(path, batches)


def _parquet(path: Path, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    def batches() -> Any:
        # pre_buffer (pyarrow's default) reads ahead: a 1M-row, 111 MB file in 20 row groups
        # was held whole (benchmarks/inputs_at_scale.py: 172 MB over the imports, now 73)
        f = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        yield from f.iter_batches(batch_size=BATCH_ROWS)

    yield from _arrow_batches(path, batches)


def _hf(source: str, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`hf:NAME`: a `save_to_disk` folder is memory-mapped; anything else is streamed."""
    import datasets

    name = source[len(HF_PREFIX) :]
    local = Path(name)
    try:
        if (local / "dataset_dict.json").exists() or (local / "state.json").exists():
            ds: Any = datasets.load_from_disk(str(local))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise InputError(
                        f"{source}: no split '{split}' (input_split); splits: {', '.join(ds)}"
                    )
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, split=split, streaming=True)
        for n, row in enumerate(ds, 1):
            yield n, dict(row)
    except InputError:
        raise
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as e:
        raise InputError(f"{source}: cannot load the dataset: {str(e).splitlines()[0]}") from None


def render_records(
    path: Path | str,
    template: Template,
    *,
    split: str = "train",
    columns: dict[str, str] | None = None,
) -> Iterator[tuple[int, dict[str, Any], list[dict[str, str]]]]:
    """(line or row, record, messages) for every record; names where and which field fails."""
    fields = template.fields
    for lineno, record in iter_records(path, split=split, columns=columns):
        for field in fields:
            if field not in record:
                raise InputError(
                    f"{where(path, lineno)}: record has no field '{field}' "
                    f"(template {template.name} uses it; input_columns maps a column to it)"
                )
        try:
            messages = template.render(record)
        except TemplateError as e:
            raise InputError(f"{where(path, lineno)}: {e}") from None
        yield lineno, record, messages
