"""The config reads every section without importing the features that run them (no import circle, issue 14 item 7):
``[[alerts]]`` and ``[[notifications]]`` are checked by their own parsers, which import neither the config nor
the alert loop or the notifier."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import hub.config
config = hub.config.parse({
    "sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": "s"}],
    "alerts": [{"metric": "events", "type": "sync.failed", "source": "erp", "window_minutes": 5, "above": 1}],
    "notifications": [{"url": "https://ops.example/h", "secret": "env:HOOK"}],
}, {"HOOK": "whsec_c2VjcmV0"})
assert config.alerts[0].name == "erp-sync.failed" and config.notifications[0].secret == "whsec_c2VjcmV0"
print(sorted(name for name in ("hub.exceptions.alerts", "hub.exceptions.notify") if name in sys.modules))
"""


def test_reading_the_config_imports_neither_alerts_nor_notify() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
