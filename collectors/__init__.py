"""Adapters for connected systems (pure verify + parse) and the runtime that feeds the hub's inbox."""

from types import ModuleType

from collectors import cloudevents
from collectors.base import ParseError, SignatureError

ADAPTERS: dict[str, ModuleType] = {
    "cloudevents": cloudevents,
}

__all__ = ["ADAPTERS", "ParseError", "SignatureError"]
