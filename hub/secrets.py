"""Secrets in config: ``env:NAME`` reads an environment variable, anything else is the secret itself."""

from __future__ import annotations

import os

from hub.errors import ConfigError


def resolve_secret(value: str, where: str, environ: dict[str, str] | os._Environ[str]) -> str:
    """``env:NAME`` → the environment variable's value; anything else is taken literally."""
    if value.startswith("env:"):
        name = value[4:]
        if not environ.get(name):
            raise ConfigError(f"{where} = {value!r}: environment variable {name} is not set; export it")
        return environ[name]
    return value
