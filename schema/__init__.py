"""Strawberry types, inputs and enums: one module per type; no query logic, no SQL."""

__all__: list[str] = []
