"""The hub's own observability: OpenTelemetry spans (API only; an SDK may be installed by the operator)
and a small Prometheus text registry for ``/metrics``."""

from __future__ import annotations

import threading
from collections import defaultdict

from opentelemetry import trace

tracer = trace.get_tracer("crosstrace")


class _NoSpan:
    """What :func:`span` gives when nothing would record a span: a context manager that does nothing."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def set_attribute(self, key: str, value: object) -> None:
        pass


_NO_SPAN = _NoSpan()


def span(name: str):  # type: ignore[no-untyped-def]
    """``tracer.start_as_current_span(name)`` once an OpenTelemetry SDK is installed; before that a no-op, so the
    hot paths pay nothing for spans no one exports (the API's non-recording spans still cost a context switch)."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return _NO_SPAN
    return tracer.start_as_current_span(name)


class Metrics:
    """Counters and gauges rendered in the Prometheus text exposition format (version 0.0.4)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[name][tuple(sorted(labels.items()))] = value

    def value(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        return self._counters.get(name, {}).get(key, self._gauges.get(name, {}).get(key, 0))

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for family in (self._counters, self._gauges):
                for name, series in sorted(family.items()):
                    kind, text = self._help.get(name, ("counter" if family is self._counters else "gauge", name))
                    lines.append(f"# HELP {name} {text}")
                    lines.append(f"# TYPE {name} {kind}")
                    for labels, value in sorted(series.items()):
                        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def new_metrics() -> Metrics:
    """A registry with the hub's metric families described."""
    metrics = Metrics()
    metrics.describe("crosstrace_deliveries_received_total", "counter", "Deliveries stored in the inbox")
    metrics.describe("crosstrace_deliveries_duplicate_total", "counter", "Deliveries received again (stored once)")
    metrics.describe("crosstrace_deliveries_rejected_total", "counter", "Deliveries refused (signature, size, type)")
    metrics.describe("crosstrace_deliveries_dead_total", "counter", "Deliveries dead-lettered by the normalizer")
    metrics.describe("crosstrace_events_stored_total", "counter", "Canonical events stored")
    metrics.describe("crosstrace_events_duplicate_total", "counter", "Events received again (counted, not stored)")
    metrics.describe("crosstrace_inbox_queue_depth", "gauge", "Deliveries waiting for the inbox writer")
    metrics.describe("crosstrace_normalize_pending", "gauge", "Stored deliveries not yet normalized")
    metrics.describe("crosstrace_normalize_lag_seconds", "gauge", "Age of the oldest delivery in the last batch")
    metrics.describe("crosstrace_store_write_transactions_total", "counter", "Write transactions, by writer")
    metrics.describe("crosstrace_store_writer_wait_seconds_total", "counter",
                     "Seconds writers waited for the one writer")
    metrics.describe("crosstrace_store_writer_hold_seconds_total", "counter",
                     "Seconds writers held the one writer")
    metrics.describe("crosstrace_store_reads_total", "counter",
                     "Read connections, by target: the primary or the [store] read_url replica")
    metrics.describe("crosstrace_pending_oldest_seconds", "gauge",
                     "Seconds the oldest pending delivery (the head of the normalizer's queue) has waited")
    metrics.describe("crosstrace_loop_last_tick_seconds", "gauge",
                     "Seconds since each background loop last completed a tick")
    metrics.describe("crosstrace_healthy", "gauge", "1 when /healthz answers 200, 0 when it answers 503")
    return metrics
