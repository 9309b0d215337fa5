"""The garbage collector after start-up: what a long-running process made while starting is never collected again."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then move every object start-up made (modules, the config, the tables' metadata, the GraphQL
    schema: ~150,000 objects) to the collector's permanent generation. A full collection otherwise walks them all
    again each time, about a tenth of a second of the event loop's CPU per collection under ``/ingest``: a fifth of
    the process's CPU, measured with ``gc.callbacks``. Call it just before serving, in a process's entry point."""
    gc.collect()
    gc.freeze()
