"""The response cache: exact and semantic, L1 in process, L2 in the store.

See ``docs/CACHE.md``. The parts: ``settings`` (the ``cache`` config section),
``runtime`` (:class:`~steadyllm.cache.runtime.ResponseCache`: L1, L2, index, stats,
upkeep), ``lru`` (L1), ``semantic_index``, ``embedding`` (the optional model),
``replay`` (streams to bodies and back), ``stats``. The stage is
:mod:`steadyllm.stages.cache`; its decisions are pure functions in
:mod:`steadyllm.policy.cache_key`, :mod:`steadyllm.policy.cache_rules`,
:mod:`steadyllm.policy.similarity` and :mod:`steadyllm.policy.meaning_guard`.

Nothing is imported here: ``steadyllm.config`` imports the settings module, and the
runtime imports the stores, which import the config.
"""
