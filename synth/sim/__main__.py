"""`python -m synth.sim`: run the simulated teacher in the foreground.

    python -m synth.sim --port 8765 --rpm 600 --tpm 200000 --fault-429 0.1 --latency-ms 20,80

One flag per `SimConfig` field (`--fault-500-no-retry`, `--price-input-per-mtok`, ...; see
`--help`), over an optional `--config FILE` (JSON or YAML). The key for `require_key` is read
from an environment variable (`--require-key-env NAME`), never from the command line.
`--config-stdin` reads the whole config as JSON from stdin (how `SimServer(process=True)`
starts it); `--announce` prints "distill sim listening on URL" once the port is bound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synth.errors import DistillError
from synth.sim.config import NOT_A_FLAG, SimConfig
from synth.sim.runner import HOST, READY_PREFIX, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synth.sim",
        description="The simulated teacher: OpenAI and Anthropic APIs on 127.0.0.1.",
    )
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    parser.add_argument("--config", type=Path, help="a JSON or YAML file of SimConfig fields")
    parser.add_argument(
        "--config-stdin", action="store_true", help="read the config JSON from stdin"
    )
    parser.add_argument("--require-key-env", metavar="NAME", help="require the key held in $NAME")
    parser.add_argument("--announce", action="store_true", help="print the URL once listening")
    knobs = parser.add_argument_group("simulation knobs (SimConfig fields)")
    defaults = SimConfig().model_dump()
    for name, field in SimConfig.model_fields.items():
        if name in NOT_A_FLAG:
            continue
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} (default: {defaults[name]})"
        knobs.add_argument(flag, dest=name, help=help_text)
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    data: dict[str, Any] = {}
    if args.config_stdin:
        data.update(json.loads(sys.stdin.read() or "{}"))
    if args.config is not None:
        text = args.config.read_text(encoding="utf-8")
        if args.config.suffix in (".yaml", ".yml"):
            data.update(yaml.safe_load(text) or {})
        else:
            data.update(json.loads(text))
    for name in SimConfig.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = [m for m in value.split(",") if m] if name == "models" else value
    if args.require_key_env:
        key = os.environ.get(args.require_key_env)
        if not key:
            raise DistillError(f"--require-key-env: ${args.require_key_env} is empty or unset")
        data["require_key"] = key
    return SimConfig(**data)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        print(f"distill sim: {where}: {first['msg']}", file=sys.stderr)
        return 2
    except (DistillError, OSError, ValueError) as exc:
        print(f"distill sim: {exc}", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        if args.announce:
            print(READY_PREFIX + url, flush=True)
        else:
            print(f"distill sim: OpenAI base_url {url}/v1, Anthropic base_url {url}", flush=True)

    try:
        serve(config, port=args.port, host=args.host, log_level=args.log_level, on_ready=announce)
    except DistillError as exc:
        print(f"distill sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"distill sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
