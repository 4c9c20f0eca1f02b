"""Running the simulated teacher: in a thread for tests, in a subprocess for benchmarks and
crash tests, or in the foreground for the command line.

    with SimServer(SimConfig(rpm=600, fault_500=0.1)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)
        ...
        assert sim.ledger()["counters"]["retry_after_violations"] == 0

The server binds 127.0.0.1 on a free port itself (no race for the port). uvicorn stays quiet
(warnings and up, no access log).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import uvicorn

from synth.sim.config import SimConfig
from synth.sim.server import SimApp, quiet_uvicorn

HOST = "127.0.0.1"
READY_PREFIX = "distill sim listening on "


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _uvicorn_config(app: SimApp, log_level: str) -> uvicorn.Config:
    quiet_uvicorn()
    return uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        loop="asyncio",
        timeout_graceful_shutdown=2,
        backlog=2048,
        server_header=False,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, woken at once by `exit_soon` instead of at its next 0.1 s tick."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self._wake.wait(), 0.1)
            except TimeoutError:
                pass

    def exit_soon(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed meanwhile: it has exited anyway
                pass


def serve(
    config: SimConfig,
    port: int = 8765,
    host: str = HOST,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM. `on_ready(url)` once the port is bound
    (port 0 picks a free one; the url says which)."""
    app = SimApp(config)
    sock = _bind(host, port)
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{sock.getsockname()[1]}")
        uvicorn.Server(_uvicorn_config(app, log_level)).run(sockets=[sock])
    finally:
        sock.close()
        app.close()


class SimServer:
    """A running simulated teacher: `.url`, `.openai_base_url`, `.anthropic_base_url`,
    `.ledger()`, `.reset()`. `process=True` runs it as `python -m synth.sim` in a child."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        process: bool = False,
        host: str = HOST,
        port: int = 0,
        log_level: str = "warning",
        startup_timeout_s: float = 30.0,
        **overrides: Any,
    ) -> None:
        if overrides:
            base = config.model_dump() if config is not None else {}
            config = SimConfig.model_validate({**base, **overrides})
        self.config = config or SimConfig()
        self.process = process
        self.host = host
        self.port = port
        self.log_level = log_level
        self.startup_timeout_s = startup_timeout_s
        self.url = ""
        self.app: SimApp | None = None  # thread mode: the live state, for white-box checks
        self.proc: subprocess.Popen[bytes] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SimServer:
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        self.app = SimApp(self.config)
        self._sock = _bind(self.host, self.port)
        self.url = f"http://{self.host}:{self._sock.getsockname()[1]}"
        self._server = _Server(_uvicorn_config(self.app, self.log_level))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="distill-sim",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulated teacher did not start")
            time.sleep(0.005)

    def _start_process(self) -> None:
        args = [sys.executable, "-m", "synth.sim", "--config-stdin", "--announce"]
        args += ["--host", self.host, "--port", str(self.port), "--log-level", self.log_level]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.config.to_wire()).encode())
        self.proc.stdin.close()
        line = self._read_announce(self.proc.stdout)
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"the simulated teacher did not start (said {line!r})")
        self.url = line[len(READY_PREFIX) :].strip()

    def _read_announce(self, stream: Any) -> str:
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout_s)
        return result[0].decode() if result else ""

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.exit_soon()
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.app is not None:
            self.app.close()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def kill(self) -> None:
        """Process mode: SIGKILL the sim (a crash, for tests); the JSONL ledger survives."""
        if self.proc is None:
            raise RuntimeError("kill() needs process=True")
        self.proc.kill()
        self.proc.wait()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # -- accessors ------------------------------------------------------------------------------

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def _call(self, method: str, path: str) -> Any:
        if not self.url:
            raise RuntimeError("the simulated teacher is not running")
        request = urllib.request.Request(
            self.url + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def ledger(self, entries: bool = True) -> dict[str, Any]:
        """What the sim billed: {"entries": [...], "totals": {...}, "counters": {...}}."""
        return self._call("GET", f"/_sim/ledger?entries={int(entries)}")

    def reset(self) -> None:
        """Forget what was billed and seen; limits, faults and caches start afresh."""
        self._call("POST", "/_sim/reset")
