"""The demo: a simulated retailer driving a real hub over HTTP (``crosstrace demo``).

The simulator is outside the hub's ingest path: it signs vendor webhooks itself and serves an ERP API the
hub polls. The hub is handed in by the composition root (``hub/cli.py``) as an app factory.
"""

from hub.demo.runner import DemoOptions, run_demo
from hub.demo.scenario import Scenario, build

__all__ = ["DemoOptions", "Scenario", "build", "run_demo"]
