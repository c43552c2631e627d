"""Telemetry: metrics, traces, logs, health, SLOs, alerts (see docs/OBSERVABILITY.md).

``hub.Telemetry`` ties them to one gateway. This package's ``__init__`` imports
nothing, so ``steadyllm.config`` can import ``telemetry.settings`` without a cycle.
"""
