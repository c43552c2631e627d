"""The deployment files under deploy/: what can be checked without a container engine.

Every YAML parses; the gateway configs validate and their providers build (the
``steadyllm check-config`` path); the Kubernetes manifests hold the fields that make
them work together (probes on real, unguarded gateway routes, ports, names); compose
mounts files that exist; the Dockerfile runs as a non-root user with a health check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from steadyllm.config import ConfigError, Settings, load_settings
from steadyllm.gateway import Gateway
from steadyllm.providers.base import create_provider
from steadyllm.server.app import _ADMIN_PREFIXES, create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENV = {
    "STEADYLLM_ADMIN_KEY": "test-admin-key",
    "PG_PASSWORD": "test-pg-password",
    "OPENAI_API_KEY": "sk-test",
}
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _k8s() -> dict[str, dict[str, Any]]:
    """Every manifest under deploy/k8s/, by kind (one of each kind)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _documents(path):
            assert doc["kind"] not in found, f"two {doc['kind']} manifests"
            found[doc["kind"]] = doc
    return found


def _container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _gateway_configs() -> Iterator[tuple[str, str]]:
    yield "steadyllm.compose.yaml", (DEPLOY / "steadyllm.compose.yaml").read_text("utf-8")
    configmap = _k8s()["ConfigMap"]
    yield "k8s ConfigMap", configmap["data"]["steadyllm.yaml"]


def _load(text: str, tmp_path: Path, env: dict[str, str]) -> Settings:
    path = tmp_path / "steadyllm.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env)


def test_there_are_yaml_files_and_all_parse() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {
        "compose.yaml",
        "steadyllm.compose.yaml",
        "prometheus/prometheus.yml",
        "prometheus/rules.yml",
        "k8s/deployment.yaml",
    } <= names
    for path in YAML_FILES:
        assert _documents(path), f"{path} is empty"


@pytest.mark.parametrize("which", ["steadyllm.compose.yaml", "k8s ConfigMap"])
async def test_gateway_configs_validate_and_their_providers_build(
    which: str, tmp_path: Path
) -> None:
    text = dict(_gateway_configs())[which]
    settings = _load(text, tmp_path, ENV)
    # A replica needs shared state: PostgreSQL for records, Redis for counters and cache.
    assert settings.store.url.startswith("postgresql://")
    assert "test-pg-password" in settings.store.url
    assert settings.store.redis_url is not None
    assert settings.store.redis_url.startswith("redis://")
    assert settings.server.admin_key is not None
    assert settings.server.admin_key.get_secret_value() == "test-admin-key"
    assert settings.server.host == "0.0.0.0"
    assert settings.models
    for model in settings.models:
        for deployment in model.deployments:
            assert deployment.price is not None, f"{model.name}: no price"
            provider = create_provider(deployment)  # check-config: no connection is made
            await provider.aclose()


@pytest.mark.parametrize("which", ["steadyllm.compose.yaml", "k8s ConfigMap"])
@pytest.mark.parametrize("missing", ["STEADYLLM_ADMIN_KEY", "PG_PASSWORD"])
def test_gateway_configs_refuse_to_start_without_their_secrets(
    which: str, missing: str, tmp_path: Path
) -> None:
    text = dict(_gateway_configs())[which]
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        _load(text, tmp_path, env)


def test_secrets_are_not_written_into_the_gateway_configs() -> None:
    for name, text in _gateway_configs():
        assert "admin_key: ${STEADYLLM_ADMIN_KEY" in text, name
        assert not re.search(r"api_key:\s*['\"]?sk-", text), name


def test_k8s_manifests_have_the_required_kinds_and_fields() -> None:
    manifests = _k8s()
    assert set(manifests) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
    }
    for doc in manifests.values():
        assert doc["apiVersion"]
        assert doc["metadata"]["name"]
    assert manifests["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    deployment = manifests["Deployment"]
    container = _container(manifests)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    # the pod runs the same command as the image, on the mounted ConfigMap
    assert container["args"][:3] == ["serve", "--config", "/etc/steadyllm/steadyllm.yaml"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/steadyllm")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]]["configMap"]["name"] == manifests["ConfigMap"]["metadata"]["name"]
    assert "steadyllm.yaml" in manifests["ConfigMap"]["data"]
    # every ${VAR} the config needs comes from the Secret
    secret = manifests["Secret"]
    refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
    assert refs == [secret["metadata"]["name"]]
    needed = set(
        re.findall(r"\$\{([A-Za-z_]\w*)", manifests["ConfigMap"]["data"]["steadyllm.yaml"])
    )
    assert needed <= set(secret["stringData"])
    assert all("REPLACE" in value for value in secret["stringData"].values())
    assert "REPLACE" in (K8S / "secret.yaml").read_text("utf-8").split("apiVersion")[0]
    # pod selection
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # the grace period covers the gateway's own shutdown wait
    settings = load_settings({"server": {}})
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.server.shutdown_timeout


def test_k8s_probes_are_real_unguarded_gateway_routes() -> None:
    container = _container(_k8s())
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert {k: p["path"] for k, p in probes.items()} == {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/startup",
    }
    app = create_app(Gateway(load_settings({"store": {"url": "memory://"}})))
    routes = {r.canonical for r in app.router.resources()}
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in probes.values():
        assert probe["path"] in routes
        # probes send no credentials: the admin guard must not cover them
        assert not probe["path"].startswith(_ADMIN_PREFIXES)
        port = probe["port"]
        assert named_ports.get(port, port) == 8080


def test_service_and_hpa_point_at_the_deployment() -> None:
    manifests = _k8s()
    container = _container(manifests)
    container_ports = {p["containerPort"] for p in container["ports"]} | {
        p["name"] for p in container["ports"]
    }
    for port in manifests["Service"]["spec"]["ports"]:
        assert port["targetPort"] in container_ports
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert target["name"] == manifests["Deployment"]["metadata"]["name"]
    spec = manifests["HorizontalPodAutoscaler"]["spec"]
    assert spec["minReplicas"] >= 2
    assert spec["maxReplicas"] >= spec["minReplicas"]
    assert [m["resource"]["name"] for m in spec["metrics"]] == ["cpu"]


def test_k8s_manifests_validate_against_the_kubernetes_schema() -> None:
    import kubernetes_validate  # extra dev: the API schemas ship inside the wheel

    version = kubernetes_validate.latest_version()
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _documents(path):
            kubernetes_validate.validate(doc, version, strict=True)


def test_compose_services_mount_files_that_exist() -> None:
    compose = _documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    assert {"gateway-1", "gateway-2", "nginx", "redis", "postgres", "prometheus", "grafana"} <= set(
        services
    )
    mounted: dict[str, str] = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
                mounted[target] = source
        build = service.get("build")
        if build:
            context = DEPLOY / build["context"]
            assert (context / build["dockerfile"]).is_file()
            assert (context / "pyproject.toml").is_file()
    assert mounted["/etc/steadyllm/steadyllm.yaml"] == "./steadyllm.compose.yaml"
    # nginx balances over the gateway services
    nginx = (DEPLOY / mounted["/etc/nginx/nginx.conf"]).read_text("utf-8")
    upstreams = set(re.findall(r"^\s*server\s+([\w-]+):8080", nginx, re.M))
    assert upstreams == {"gateway-1", "gateway-2"}
    # Prometheus: scrapes /metrics on each replica with the admin key, loads the rules
    prometheus = _documents(DEPLOY / mounted["/etc/prometheus/prometheus.yml"])[0]
    assert mounted[prometheus["rule_files"][0]] == "./prometheus/rules.yml"
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert set(job["static_configs"][0]["targets"]) == {"gateway-1:8080", "gateway-2:8080"}
    secret_file = job["authorization"]["credentials_file"]
    assert secret_file == f"/run/secrets/{services['prometheus']['secrets'][0]}"
    assert compose["secrets"][services["prometheus"]["secrets"][0]] == {
        "environment": "STEADYLLM_ADMIN_KEY"
    }
    # Grafana: the provider's folder holds the mounted dashboard
    provider = _documents(DEPLOY / "grafana/provisioning/dashboards/steadyllm.yml")[0]
    folder = provider["providers"][0]["options"]["path"]
    assert mounted[f"{folder}/steadyllm.json"] == "./grafana/steadyllm.json"
    datasource = _documents(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")[0]
    assert datasource["datasources"][0]["type"] == "prometheus"


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    text = (DEPLOY / "Dockerfile").read_text("utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, "no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    (healthcheck,) = re.findall(r"^HEALTHCHECK .*?(?<!\\)$", text, re.M | re.S)
    assert "/health/live" in healthcheck
    assert "pip install '.[scale]'" in text
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "EXPOSE 8080" in text
    assert '"--config", "/etc/steadyllm/steadyllm.yaml", "--host", "0.0.0.0"' in text
