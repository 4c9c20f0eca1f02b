"""`student.push_to_hub`: the trained student, with its model card, to a Hugging Face Hub repo.

What is pushed is what a user loads: `<run>/student/merged/` when there is one (a plain
transformers model), else `<run>/student/` without its checkpoints (the adapter, or the fully
fine-tuned model). `huggingface_hub` does the work (create_repo, then one upload_folder
commit); `HF_ENDPOINT` points it at another Hub, and the token is read from `HF_TOKEN` only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from synth.errors import ConfigError, DependencyError, StageError

if TYPE_CHECKING:
    from synth.config import RunConfig

TOKEN_ENV = "HF_TOKEN"


def hub_token() -> str:
    """The write token, checked before training starts: a missing one is one line, not a
    failure after the model is trained."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"student.push_to_hub: no token in ${TOKEN_ENV}: export {TOKEN_ENV}=hf_... (a write "
            "token from https://huggingface.co/settings/tokens), or set push_to_hub: false"
        )
    return token


def folder_to_push(cfg: RunConfig) -> tuple[Path, list[str]]:
    """(folder, patterns left out): merged/ if there is one, else the student folder."""
    if (cfg.paths.merged / "config.json").exists():
        return cfg.paths.merged, []
    if not cfg.paths.student.exists():
        raise StageError(f"{cfg.paths.student}: no student yet: run distill train first")
    return cfg.paths.student, ["checkpoints/*", "merged/*"]


def push_student(cfg: RunConfig) -> str:
    """Create the repo (if needed) and push the student in one commit; returns the commit URL."""
    s = cfg.student
    assert s is not None and s.hub_model_id is not None
    token = hub_token()
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise DependencyError(
            "student.push_to_hub needs huggingface_hub: pip install huggingface_hub"
        ) from None
    folder, ignore = folder_to_push(cfg)
    api = HfApi(token=token)
    try:
        api.create_repo(s.hub_model_id, private=s.hub_private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=s.hub_model_id,
            folder_path=str(folder),
            ignore_patterns=ignore or None,
            commit_message=f"distill: the {cfg.name} student",
        )
    except HfHubHTTPError as e:
        raise StageError(
            f"student.push_to_hub: the Hub refused {s.hub_model_id}: {str(e).splitlines()[0]}"
        ) from None
    return str(commit)
