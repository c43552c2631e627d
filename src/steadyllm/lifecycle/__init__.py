"""The lifecycle: outcomes, prompt versions, drift, retraining, evaluation, export.

See ``docs/LIFECYCLE.md``. The parts: ``settings`` (the ``lifecycle`` config section),
``runtime`` (:class:`~steadyllm.lifecycle.runtime.Lifecycle`, held on the gateway as
``gateway.lifecycle``), ``feedback``, ``versions``, ``drift``, ``retraining``,
``evaluation``, ``export``, ``records`` and ``rows`` (their storage). Decisions are
pure functions in :mod:`steadyllm.policy.drift`, :mod:`steadyllm.policy.failure_analysis`
and :mod:`steadyllm.policy.diff`.

Nothing is imported here: ``steadyllm.config`` imports the settings module, and the
runtime imports the stores, which import the config.
"""
