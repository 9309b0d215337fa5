"""Where the shared payload fixtures live: ``../shared/fixtures`` beside the repository."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
