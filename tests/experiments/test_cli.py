"""``steadyllm experiments`` against a running gateway."""

from __future__ import annotations

from click.testing import CliRunner

from steadyllm.cli import main
from tests.gateway_thread import GatewayThread

CONFIG = {
    "server": {"admin_key": "admin-secret", "shutdown_timeout": 5},
    "store": {"url": "memory://"},
    "models": [{"name": "fast", "deployments": [{"provider": "sim", "model": "s"}]}],
    "variants": {
        "definitions": {"baseline": {"system_prompt": "A."}, "casual": {"system_prompt": "B."}},
        "routes": {"fast": "baseline"},
    },
}


def test_create_list_results() -> None:
    runner = CliRunner()
    with GatewayThread(CONFIG) as gateway:
        common = ["--url", gateway.url, "--admin-key", "admin-secret"]
        created = runner.invoke(
            main,
            ["experiments", "create", "tone", "--route", "fast", "--arm", "baseline",
             "--arm", "casual:3", *common],
        )  # fmt: skip
        assert created.exit_code == 0, created.output
        assert '"weight": 3.0' in created.output
        listed = runner.invoke(main, ["experiments", "list", *common])
        assert listed.exit_code == 0, listed.output
        experiment_id = listed.output.split()[0]
        assert experiment_id.startswith("exp_")
        assert "baseline:1, casual:3" in listed.output
        results = runner.invoke(main, ["experiments", "results", experiment_id, *common])
        assert results.exit_code == 0, results.output
        assert "sample ratio" in results.output
        refused = runner.invoke(main, ["experiments", "list", "--url", gateway.url])
        assert refused.exit_code != 0
        assert "401" in refused.output
