"""The small web UI: Starlette routes + Jinja2 templates; data through ``hub`` query functions."""

__all__: list[str] = []
