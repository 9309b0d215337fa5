"""The README's "Connect a system" example is a working config: every adapter in it passes its start-up checks."""

from __future__ import annotations

import re
import tomllib

import pytest

from collectors import ADAPTERS
from collectors.poller import plan_polls
from hub.config import parse
from hub.errors import ConfigError
from tests.paths import ROOT


def _example() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Connect a system"):]
    section = section[:section.index("\n## ", 3)]
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", section, re.S) if 'adapter = "json"' in b]
    assert len(blocks) == 1, "the per-adapter example block is missing from README's Connect a system"
    return tomllib.loads(blocks[0])


def test_readme_example_covers_every_vendor_adapter_and_passes_the_start_checks() -> None:
    raw = _example()
    env = {ref[4:]: "s3cret" for s in raw["sources"] for ref in [s["secret"]]}
    config = parse(raw, env)
    assert {s.adapter for s in config.sources.values()} == set(ADAPTERS) - {"cloudevents"}
    for source in config.sources.values():
        check = getattr(ADAPTERS[source.adapter], "check_options", None)
        if check is not None:
            check(source)
    assert set(plan_polls(config)) == {"wms"}


def test_readme_example_with_a_typo_fails_naming_source_and_key() -> None:
    raw = _example()
    wms = next(s for s in raw["sources"] if s["name"] == "wms")
    wms["options"]["mapping"]["typ"] = wms["options"]["mapping"].pop("type")
    config = parse(raw, {ref[4:]: "s3cret" for s in raw["sources"] for ref in [s["secret"]]})
    with pytest.raises(ConfigError, match="source 'wms': options.mapping: unknown key 'typ'"):
        ADAPTERS["json"].check_options(config.sources["wms"])
