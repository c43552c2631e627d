"""The safety section: defaults, strictness, per-model overrides."""

from __future__ import annotations

import pytest

from steadyllm.config import ConfigError, load_settings
from steadyllm.safety.settings import SafetySettings


def test_defaults_need_no_config() -> None:
    settings = load_settings({"store": {"url": "memory://"}}).safety
    assert settings.enabled
    assert settings.input.action == "block"
    assert settings.input.threshold == 0.5
    assert settings.output.leak_action == "block"
    assert not settings.output.redact_pii
    assert settings.validation.recovery == ["repair", "reask", "failover"]


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"safety": {"input": {"acton": "flag"}}})
    assert "safety.input.acton" in str(caught.value)


def test_model_overrides_change_only_the_keys_written() -> None:
    settings = SafetySettings.model_validate(
        {
            "input": {"threshold": 0.6},
            "validation": {"max_reasks": 2},
            "models": {"fast": {"input": {"action": "flag"}, "output": {"redact_pii": True}}},
        }
    )
    fast = settings.policy_for("fast")
    assert fast.input.action == "flag"
    assert fast.input.threshold == 0.6  # from the top level
    assert fast.output.redact_pii
    assert fast.output.leak_action == "block"
    assert fast.validation.max_reasks == 2
    other = settings.policy_for("smart")
    assert other.input.action == "block"
    assert other.input.threshold == 0.6
    assert not other.output.redact_pii
