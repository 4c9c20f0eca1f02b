"""What every section of the run config shares: `Strict` (an unknown key is an error, so a
typo is caught) and `KeyEnvName` (the name of the variable that holds a key, never the key)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _a_name_not_a_key(v: str) -> str:
    # catches the key itself pasted where its variable's name belongs
    if v.startswith(("sk-", "sk_")) or len(v) > 64 or not v.replace("_", "").isalnum():
        raise ValueError(
            "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself"
        )
    return v


KeyEnvName = Annotated[str, AfterValidator(_a_name_not_a_key)]
