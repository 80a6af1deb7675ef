"""Keys for servers come in one way: from the environment, named in the suite.

``api_key_env: OPENAI_API_KEY`` sends ``Authorization: Bearer $OPENAI_API_KEY``; a header value or a launched
server's flag may be ``{env: NAME}`` (optionally ``{env: NAME, prefix: "Bearer "}``). The suite, and so the
store, the report and every export, holds the variable's name only; the value is read where the request is made
(in the worker) and remembered by ``harness.redact`` so that no log or error repeats it. A key written literally
in a suite still works but is never stored; ``harness validate`` and ``run`` warn that it belongs in the environment.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.redact import remember

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,255}$"


class CredentialError(ValueError):
    """A key the suite names is not in the environment; the message names the field and the variable."""


class EnvRef(BaseModel):
    """``{env: NAME}``: the value of the environment variable ``NAME`` (with ``prefix`` before it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    env: str = Field(pattern=ENV_NAME)
    prefix: str = Field(default="", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")


def env_value(name: str, field: str) -> str:
    """The value of ``$name`` (remembered for redaction); ``CredentialError`` naming ``field`` when unset."""
    value = os.environ.get(name, "")
    if not value:
        raise CredentialError(f"{field}: environment variable {name} is not set (the suite takes the key from it)")
    remember(value)
    return value


def resolve(value: str | EnvRef, field: str) -> str:
    return value.prefix + env_value(value.env, field) if isinstance(value, EnvRef) else value


def as_env_ref(value: Any) -> EnvRef | None:
    """``value`` as an ``EnvRef`` when it is a ``{env: NAME}`` mapping, else None."""
    if isinstance(value, dict) and "env" in value:
        return EnvRef.model_validate(value)
    return None


def resolve_flags(flags: dict[str, Any], field: str) -> dict[str, Any]:
    """A launched server's ``server_args`` with every ``{env: NAME}`` value read from the environment."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        ref = as_env_ref(value)
        out[key] = resolve(ref, f"{field}.{key}") if ref is not None else value
    return out


def env_names(value: Any, field: str) -> list[tuple[str, str]]:
    """Every ``(field, VARIABLE)`` that a mapping of header values or flags takes from the environment."""
    found: list[tuple[str, str]] = []
    if isinstance(value, EnvRef):
        return [(field, value.env)]
    if isinstance(value, dict):
        ref = as_env_ref(value)
        if ref is not None:
            return [(field, ref.env)]
        for key, item in value.items():
            found += env_names(item, f"{field}.{key}")
    return found


def check_set(names: list[tuple[str, str]]) -> None:
    """``CredentialError`` for the first variable that is not set (``harness validate``: exit 2 before running);
    the values of those that are set are remembered for redaction."""
    for field, name in names:
        env_value(name, field)  # remembered here too: the harness redacts what its workers report
