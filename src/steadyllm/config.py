"""The settings tree: typed, validated once at startup, then passed down.

``load_settings`` reads YAML, interpolates ``${VAR}`` / ``${VAR:-default}`` /
``${VAR:?message}`` from the environment, and validates with pydantic. Errors name
the key path and the line in the file. Nothing else in the package reads
``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from steadyllm.cache.settings import CacheSettings
from steadyllm.keys.settings import AccessSettings
from steadyllm.lifecycle.settings import LifecycleSettings
from steadyllm.local.settings import LlamaCppSettings, LocalSettings
from steadyllm.resilience.settings import ResilienceSettings
from steadyllm.safety.settings import SafetySettings
from steadyllm.telemetry.settings import TelemetrySettings
from steadyllm.variants.settings import VariantsSettings

__all__ = [
    "ConfigError",
    "DeploymentSettings",
    "ModelSettings",
    "PriceSettings",
    "RecordSettings",
    "ServerSettings",
    "Settings",
    "SimSettings",
    "StoreSettings",
    "TimeoutSettings",
    "default_settings",
    "load_settings",
]


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and the line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceSettings(_Strict):
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class TimeoutSettings(_Strict):
    connect: float = Field(5.0, gt=0)
    read: float = Field(60.0, gt=0)  # between two reads of the body or stream
    total: float = Field(120.0, gt=0)  # one attempt, start to end
    first_token: float = Field(30.0, gt=0)  # streams: until the first content token


class SimSettings(_Strict):
    """Behaviour of the in-process simulated upstream (provider ``sim``)."""

    latency_ms: float = Field(0.0, ge=0)
    latency_jitter_ms: float = Field(0.0, ge=0)
    token_delay_ms: float = Field(0.0, ge=0)
    seed: int = 0


class DeploymentSettings(_Strict):
    provider: str
    model: str
    name: str | None = None
    api_base: str | None = None
    api_key: SecretStr | None = None
    price: PriceSettings | None = None
    weight: float = Field(1.0, gt=0)
    context_window: int | None = Field(None, gt=0)
    timeout: TimeoutSettings = TimeoutSettings()
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(100, gt=0)
    sim: SimSettings = SimSettings()
    llamacpp: LlamaCppSettings = LlamaCppSettings()  # for provider: llamacpp


class ModelSettings(_Strict):
    name: str = Field(min_length=1)
    deployments: list[DeploymentSettings] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)
    kind: Literal["chat", "embeddings"] = "chat"


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    admin_key: SecretStr | None = None
    insecure: bool = False
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    body_read_timeout: float = Field(30.0, gt=0)  # whole request body, else 408 and close
    keepalive_timeout: float = Field(75.0, gt=0)  # idle connection, or headers not yet sent
    # Requests handled at once by one process; past it a request gets 503 "overloaded"
    # (health probes and /metrics are always answered). None: no cap.
    max_in_flight: int | None = Field(10_000, gt=0)
    shutdown_timeout: float = Field(30.0, gt=0)
    workers: int = Field(1, ge=1)


class StoreSettings(_Strict):
    url: str = "sqlite:///steadyllm.db"
    redis_url: str | None = None  # one server, Sentinel or Cluster: see docs/STORES.md
    # Starts every Redis key: replicas of one gateway share it. No braces: steadyllm's
    # keys carry Redis Cluster hash tags, which braces in the prefix would override.
    redis_prefix: str = "steadyllm:"

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            from steadyllm.stores.redis_client import parse_redis_url
        except ImportError:  # no redis extra: opening the stores says what to install
            return value
        parse_redis_url(value)  # ValueError: reported with the key and the line
        return value

    @field_validator("redis_prefix")
    @classmethod
    def _check_redis_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(f"{value!r} contains a brace; use a prefix without {{ or }}")
        return value


class RecordSettings(_Strict):
    batch_size: int = Field(200, gt=0)
    flush_interval: float = Field(0.5, gt=0)
    max_buffer: int = Field(100_000, gt=0)  # records held in memory while the store is down
    # Past max_buffer, or once the store fails, records go to an append-only disk spool
    # (steadyllm.records_spool) and are written back when the store answers again.
    spool: bool = True  # false: past max_buffer a record is dropped (counted and logged)
    spool_dir: str | None = None  # None: <temp dir>/steadyllm-spool-<uid>


class Settings(_Strict):
    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    records: RecordSettings = RecordSettings()
    models: list[ModelSettings] = Field(default_factory=list)
    local: LocalSettings = LocalSettings()
    resilience: ResilienceSettings = ResilienceSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    access: AccessSettings = AccessSettings()  # keys, limits, budgets, alerts
    cache: CacheSettings = CacheSettings()  # the response cache (docs/CACHE.md)
    safety: SafetySettings = SafetySettings()  # input/output checks, validation (docs/SAFETY.md)
    lifecycle: LifecycleSettings = LifecycleSettings()  # versions, drift, retraining (LIFECYCLE.md)
    variants: VariantsSettings = VariantsSettings()  # variants, shadow, A/B (EXPERIMENTS.md)

    @model_validator(mode="after")
    def _check_models(self) -> Settings:
        names = [m.name for m in self.models]
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                raise ValueError(f"models[{index}].name: duplicate model name {name!r}")
            seen.add(name)
        for index, model in enumerate(self.models):
            for fallback in model.fallbacks:
                if fallback not in seen:
                    raise ValueError(
                        f"models[{index}].fallbacks: unknown model {fallback!r} "
                        f"(known: {', '.join(sorted(seen))})"
                    )
                if fallback == model.name:
                    raise ValueError(
                        f"models[{index}].fallbacks: a model cannot fall back to itself"
                    )
        return self

    def model(self, name: str) -> ModelSettings | None:
        for model in self.models:
            if model.name == name:
                return model
        return None


def default_settings() -> Settings:
    """The embedded default: SQLite + memory, models answered by the simulator."""
    sim_price = PriceSettings(input_per_million=0.05, output_per_million=0.08)
    smart_price = PriceSettings(input_per_million=0.5, output_per_million=1.5)
    return Settings(
        models=[
            ModelSettings(
                name="fast",
                deployments=[DeploymentSettings(provider="sim", model="sim-fast", price=sim_price)],
                fallbacks=["smart"],
            ),
            ModelSettings(
                name="smart",
                deployments=[
                    DeploymentSettings(provider="sim", model="sim-smart", price=smart_price)
                ],
            ),
            ModelSettings(
                name="embed",
                kind="embeddings",
                deployments=[
                    DeploymentSettings(
                        provider="sim",
                        model="sim-embed",
                        price=PriceSettings(input_per_million=0.02, output_per_million=0.0),
                    )
                ],
            ),
        ]
    )


# --- loading -----------------------------------------------------------------------

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
# ``${VAR}`` is swapped for a plain-scalar placeholder before parsing, so it may stand
# anywhere a value may (also inside ``{flow: mappings}``, where ``{`` would not parse).
_PLACEHOLDER = re.compile(r"__steadyllm_env_(\d+)__")


class _Located:
    """Maps key paths of the loaded document to their line numbers."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}

    def line_for(self, loc: tuple[str | int, ...]) -> int | None:
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


def _interpolate(expression: str, env: Mapping[str, str], where: str) -> str | None:
    """The value of one ``${...}`` expression; ``None`` for an unset bare ``${VAR}``."""
    match = _ENV_PATTERN.fullmatch(expression)
    assert match is not None
    name, op, arg = match.group(1), match.group(2), match.group(3)
    if env.get(name):
        return env[name]
    if op == ":-":
        return arg or ""
    if op == ":?":
        raise ConfigError(f"{where}: environment variable {name} is required: {arg}")
    return None


def _construct(
    node: yaml.Node,
    path: tuple[str | int, ...],
    located: _Located,
    env: Mapping[str, str],
    source: str,
    expressions: list[str],
) -> Any:
    located.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(yaml.safe_load(yaml.serialize(key_node)))
            result[key] = _construct(value_node, (*path, key), located, env, source, expressions)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), located, env, source, expressions)
            for index, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.ScalarNode)
    if isinstance(node.value, str) and _PLACEHOLDER.search(node.value):
        where = f"{_dotted(path)} ({source} line {node.start_mark.line + 1})"
        values = [
            _interpolate(expressions[int(m.group(1))], env, where)
            for m in _PLACEHOLDER.finditer(node.value)
        ]
        if len(values) == 1 and _PLACEHOLDER.fullmatch(node.value) and values[0] is None:
            return None  # an unset ${VAR} standing alone means "not set"
        found = iter(values)
        text = _PLACEHOLDER.sub(lambda _: next(found) or "", node.value)
        if node.style is None:  # plain scalars get YAML typing after interpolation
            return yaml.safe_load(text) if text else ""
        return text
    return yaml.safe_load(yaml.serialize(node))


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def _validate(data: Any, located: _Located, source: str) -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = located.line_for(loc)
            where = f"{source} line {line}" if line else source
            problems.append(f"{_dotted(loc)}: {error['msg']} ({where})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def load_settings(
    source: str | Path | Mapping[str, Any] | Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from a YAML file path, a mapping, or ``None`` for the embedded default.

    A file that defines no models gets the simulated default models, so a config
    that only sets the store still answers.
    """
    if isinstance(source, Settings):
        return source
    env = os.environ if env is None else env
    located = _Located()
    if source is None:
        return default_settings()
    if isinstance(source, Mapping):
        text = yaml.safe_dump(dict(source), sort_keys=False)
        name = "<config>"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        name = str(path)
    expressions: list[str] = []

    def hold(match: re.Match[str]) -> str:
        expressions.append(match.group(0))
        return f"__steadyllm_env_{len(expressions) - 1}__"

    text = _ENV_PATTERN.sub(hold, text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from None
    data = _construct(node, (), located, env, name, expressions) if node is not None else {}
    settings = _validate(data, located, name)
    if not settings.models:
        settings = settings.model_copy(update={"models": default_settings().models})
    return settings
