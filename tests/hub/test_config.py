"""Configuration: defaults with no file, env: secrets, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main
from hub.config import DEFAULT_STORE_URL, load
from hub.errors import ConfigError

GOOD = """
[store]
url = "sqlite+aiosqlite:///x.db"

[[sources]]
name = "stripe"
kind = "payment"
adapter = "cloudevents"
secret = "env:STRIPE_WEBHOOK_SECRET"
refs = { "data.object.metadata.order_id" = "shop:order" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crosstrace.toml"
    path.write_text(text)
    return path


def test_missing_default_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(environ={})
    assert config.store_url == DEFAULT_STORE_URL and config.sources == {} and config.placeholder_threshold == 50


def test_env_secret_refs_and_database_url_override(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load(path, environ={"STRIPE_WEBHOOK_SECRET": "whsec_abc",
                                 "CROSSTRACE_DATABASE_URL": "postgresql+asyncpg://u@h/db",
                                 "CROSSTRACE_READ_DATABASE_URL": "postgresql+asyncpg://u@replica/db"})
    assert config.sources["stripe"].secrets == ("whsec_abc",)
    assert config.sources["stripe"].refs == {"data.object.metadata.order_id": "shop:order"}
    assert config.store_url == "postgresql+asyncpg://u@h/db" and config.read_url == "postgresql+asyncpg://u@replica/db"


@pytest.mark.parametrize("text, expected", [
    (GOOD, "STRIPE_WEBHOOK_SECRET is not set"),
    (GOOD.replace('kind = "payment"', 'kind = "bank"'), "sources[0] (stripe).kind = 'bank'"),
    (GOOD.replace('adapter = "cloudevents"', 'adapter = "sap"'), "sources[0] (stripe).adapter = 'sap'"),
    (GOOD.replace('"shop:order"', '"order"'), "namespace 'order'"),
    ('[[api_keys]]\nname = "bi"\nrole = "boss"\nkey_sha256 = "00"\n', "api_keys[0] (bi).role = 'boss'"),
    ("[stor]\nurl = 'x'\n", "unknown top-level key 'stor'"),
    ("[correlation]\nplaceholder_threshold = 0\n", "correlation.placeholder_threshold must be a positive integer"),
    ("[store\n", "not valid TOML"),
])
def test_wrong_config_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), environ={})
    assert expected in str(caught.value)


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check-config", "--config", str(path)]) == 2
    assert "STRIPE_WEBHOOK_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_abc")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "1 sources (stripe)" in capsys.readouterr().out


def test_keys_create_prints_a_block_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--name", "bi", "--role", "viewer", "--print-config"]) == 0  # bootstrap key
    out = capsys.readouterr().out
    block = out[out.index("[[api_keys]]"):]
    config = load(write(tmp_path, block), environ={})
    key = out.split()[out.split().index("now:") + 1]
    from hub.access.auth import authenticate

    assert authenticate(config, f"Bearer {key}").name == "bi"


def test_the_ui_always_asks_for_a_key_and_sessions_last_session_hours(tmp_path: Path) -> None:
    assert load(write(tmp_path, "")).session_hours == 12.0
    assert load(write(tmp_path, "[web]\nrequire_login = true\nsession_hours = 8\n")).session_hours == 8.0
    with pytest.raises(ConfigError, match="only `crosstrace demo`"):
        load(write(tmp_path, "[web]\nrequire_login = false\n"))
    for bad in ("0", "-1", '"12"', "true", "721"):
        with pytest.raises(ConfigError, match="session_hours"):
            load(write(tmp_path, f"[web]\nsession_hours = {bad}\n"))
    with pytest.raises(ConfigError, match="unknown key 'open'"):
        load(write(tmp_path, "[web]\nopen = true\n"))


def test_every_problem_is_reported_at_once_with_did_you_mean(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crosstrace.toml"
    path.write_text('[stroe]\nurl = "x"\n\n[[sources]]\nname = "shop"\nkind = "comerce"\nadapter = "shopify"\n'
                    'secret = "env:CT_X"\n\n[[api_keys]]\nname = "ops"\nrole = "operator"\nkey_sha256 = "' + "0" * 64
                    + '"\n\n[[api_keys]]\nname = "ops"\nrole = "viewer"\nkey_sha256 = "' + "1" * 64 + '"\n\n'
                    "[ingest]\nmax_body_bytes = -5\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "4 problems:" in err
    assert "unknown top-level key 'stroe' (did you mean 'store'?)" in err
    assert "kind = 'comerce' (did you mean 'commerce'?)" in err
    assert "the name 'ops' is used twice" in err and "ingest.max_body_bytes" in err


def test_a_literal_secret_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crosstrace.toml"
    path.write_text('[[sources]]\nname = "shop-eu"\nkind = "commerce"\nadapter = "shopify"\nsecret = "whsec_abc"\n\n'
                    '[[sources]]\nname = "erp"\nkind = "erp"\nadapter = "cloudevents"\nsecret = "env:CT_ERP"\n')
    assert main(["check-config", "--config", str(path)]) == 2  # CT_ERP is not set: an error, not a warning
    capsys.readouterr()
    config = load(path, {"CT_ERP": "s3cret"})
    assert config.warnings == ('sources[0] (shop-eu).secret is written in the file: keep it in the environment and '
                               'write "env:SHOP_EU_SECRET" instead',)
