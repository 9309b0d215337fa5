"""Where the vendors' payload fixtures live: ``tests/fixtures``, a copy of ``../shared/fixtures`` (the systems'
own public material, each folder with its upstream licence), kept in the repository so a fresh clone tests alone."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
