"""One process at a time in a run folder.

A harvest, build or train takes an exclusive lock on `<run>/run.lock` for as long as it runs;
a second one on the same run refuses at once, naming the process that holds it, instead of
sending every item a second time or dying on "database is locked". The lock is the kernel's
(`fcntl.flock`): it goes with the process that holds it, so a killed harvest never leaves a
stale lock behind. The file itself stays (its content is only the holder's description).

Within one process the lock is re-entrant (`distill run` harvests, builds and trains in turn).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synth.errors import ConfigError, RunBusy

LOCK_NAME = "run.lock"
_held: dict[Path, int] = {}  # lock file -> how many times this process holds it


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextmanager
def run_lock(run_dir: Path, what: str) -> Iterator[None]:
    """Hold the run folder for `what` ("harvest", "build", "train"); RunBusy at once when
    another process holds it."""
    path = (run_dir / LOCK_NAME).resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # runs_dir is a file, or a folder this user cannot write to
        raise ConfigError(
            f"runs_dir: cannot use {run_dir} ({e.strerror}): runs_dir must be a folder you can "
            "write to"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(
                f"{run_dir} is in use by {_holder(path)}: wait for it to end (or stop it), then "
                f"run distill {what} again"
            ) from None
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        command = " ".join(["distill", *sys.argv[1:3]]) if sys.argv[1:] else what
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({command}, since {since})\n".encode())
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
