"""Safety and response validation: input rules, output checks, validation, the safety log.

See ``docs/SAFETY.md``. The parts: ``settings`` (the ``safety`` config section),
``validation`` (the expectation of a request and the typed result of checking an
answer: ``is_valid``, sanitized ``content``, errors with ``error_type``, ``message``,
``recoverable``), ``sanitize`` (HTML stripping, the owner of ``nh3``), ``log`` (the
safety log: events, per-check counts, the write-behind queue, the memory store),
``sql`` (the SQL store), ``service`` (:class:`~steadyllm.safety.service.Safety`, the
runtime the stages share, and ``AnswerRejected``), ``evaluation`` (recall and false
positives of the input rules on a labelled set). The stages are
:mod:`steadyllm.stages.guard_in`, :mod:`~steadyllm.stages.validate` and
:mod:`~steadyllm.stages.guard_out`; the decisions are pure functions in
:mod:`steadyllm.policy.injection`, :mod:`~steadyllm.policy.leak`,
:mod:`~steadyllm.policy.pii` and :mod:`~steadyllm.policy.json_repair`.

Nothing is imported here: ``steadyllm.config`` imports the settings module, and the
runtime imports the stores, which import the config.
"""
