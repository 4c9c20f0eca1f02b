"""The simulated teacher: an OpenAI- and Anthropic-compatible server on 127.0.0.1 with rate
limits, faults, a pluggable deterministic answer function and a ledger of what it billed.

    from synth.sim import SimConfig, SimServer
    with SimServer(SimConfig(rpm=600, fault_429=0.1, price_input_per_mtok=0.15)) as sim:
        ...  # point a client at sim.openai_base_url or sim.anthropic_base_url
        sim.ledger()["totals"]

Modules: config (the knobs), server (routes and the request pipeline), openai_api and
anthropic_api (each provider's shapes), ratelimit, faults, imitate (local servers), tokens,
answers (answer functions by name), ledger, runner (SimServer, serve), __main__ (the CLI).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SimConfig", "SimServer", "SimRequest", "Refusal", "serve", "resolve_answer"]

_LAZY = {
    "SimConfig": ("synth.sim.config", "SimConfig"),
    "SimServer": ("synth.sim.runner", "SimServer"),
    "serve": ("synth.sim.runner", "serve"),
    "SimRequest": ("synth.sim.answers.registry", "SimRequest"),
    "Refusal": ("synth.sim.answers.registry", "Refusal"),
    "resolve_answer": ("synth.sim.answers.registry", "resolve"),
}


def __getattr__(name: str) -> Any:
    """Imports on first use, so that `import synth.sim.answers.registry` stays free of uvicorn."""
    if name not in _LAZY:
        raise AttributeError(f"module 'synth.sim' has no attribute {name!r}")
    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
