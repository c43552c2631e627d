from pathlib import Path

import pytest

from steadyllm.config import ConfigError, load_settings

GOOD = """\
server: {host: 127.0.0.1, port: 8080, admin_key: ${ADMIN}}
store: {url: "sqlite:///x.db", redis_url: null}
models:
  - name: fast
    deployments:
      - provider: openai
        model: llama-3.1-8b-instant
        api_base: https://api.groq.com/openai/v1
        api_key: ${GROQ_API_KEY}
        price: {input_per_million: 0.05, output_per_million: 0.08}
    fallbacks: [smart]
  - name: smart
    deployments:
      - provider: sim
        model: s
        timeout: {read: ${READ_TIMEOUT:-12.5}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "steadyllm.yaml"
    path.write_text(text)
    return path


def test_env_interpolation_and_types(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), env={"GROQ_API_KEY": "gsk_1", "ADMIN": "a"})
    fast = settings.model("fast")
    assert fast is not None
    key = fast.deployments[0].api_key
    assert key is not None
    assert key.get_secret_value() == "gsk_1"
    assert settings.server.admin_key is not None
    smart = settings.model("smart")
    assert smart is not None
    assert smart.deployments[0].timeout.read == 12.5


def test_unset_variable_alone_means_not_set(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), env={})
    assert settings.server.admin_key is None
    fast = settings.model("fast")
    assert fast is not None
    assert fast.deployments[0].api_key is None


def test_required_variable(tmp_path: Path) -> None:
    text = "server: {admin_key: '${ADMIN:?set the admin key}'}\n"
    with pytest.raises(ConfigError, match=r"server.admin_key .*line 1.*ADMIN is required"):
        load_settings(write(tmp_path, text), env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server:\n  port: 99999\n", r"server.port: .*less than or equal.*line 2"),
        ("server:\n  colour: red\n", r"server.colour: Extra inputs.*line 2"),
        (
            "models:\n  - name: a\n    deployments: []\n",
            r"models\[0\].deployments: .*at least 1.*line 3",
        ),
        (
            "models:\n  - name: a\n    deployments:\n      - provider: sim\n        model: m\n"
            "        weight: -1\n",
            r"models\[0\].deployments\[0\].weight: .*greater than 0.*line 6",
        ),
        (
            "models:\n  - name: a\n    fallbacks: [b]\n    deployments:\n"
            "      - {provider: sim, model: m}\n",
            r"unknown model 'b'",
        ),
        ("- just\n- a list\n", r"top level must be a mapping"),
        ("server: {port: [1\n", r"not valid YAML"),
    ],
)
def test_errors_name_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text), env={})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings("/nonexistent/steadyllm.yaml")


def test_default_has_simulated_models() -> None:
    settings = load_settings(None)
    assert [m.name for m in settings.models] == ["fast", "smart", "embed"]
    assert all(d.provider == "sim" for m in settings.models for d in m.deployments)
    assert settings.store.url == "sqlite:///steadyllm.db"


def test_config_without_models_gets_simulated_ones(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "store: {url: 'memory://'}\n"), env={})
    assert settings.store.url == "memory://"
    assert settings.model("fast") is not None
