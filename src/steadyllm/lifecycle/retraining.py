"""Retraining orchestration: a state machine persisted in ``retraining_sessions``.

A session runs these steps in order, saving itself after each one, so a restarted
gateway continues where the last one stopped (:meth:`Retraining.resume`):

``collect``   the last N outcomes of the variant (at least ``min_conversations``);
``analyze``   failure patterns with counts and shares (``policy.failure_analysis``);
``generate``  an improved prompt from the optimizer model, called through the gateway;
``register``  the prompt as the variant's next version (tagged ``experimental``);
``evaluate``  offline evaluation; below the minimum average the session is rolled back;
``shadow``    a shadow test of the candidate (``<variant>_v<N>``) on live traffic;
``finalize``  on request: promote when the promotion check holds, else roll back.

Triggers (:meth:`Retraining.check`): a high-severity drift or two medium ones, and
``cooldown_days`` since the variant's last session. A manual start skips both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from steadyllm.errors import Conflict, InvalidRequest, NotFound
from steadyllm.lifecycle.drift import DriftMonitor
from steadyllm.lifecycle.evaluation import Chat, EvalCase, Evaluator, load_cases, seed_cases
from steadyllm.lifecycle.feedback import FeedbackStore
from steadyllm.lifecycle.records import Outcome, RetrainingSession
from steadyllm.lifecycle.rows import Rows
from steadyllm.lifecycle.settings import EvaluationSettings, RetrainingSettings
from steadyllm.lifecycle.versions import VersionRegistry
from steadyllm.policy.failure_analysis import FailedConversation, analyze_failures

__all__ = ["STEPS", "Retraining", "ShadowRunner"]

STEPS = ("collect", "analyze", "generate", "register", "evaluate", "shadow", "finalize")
TERMINAL = ("promoted", "rolled_back", "failed")


class ShadowRunner(Protocol):
    """The experiments' shadow orchestrator (``gateway.shadow``), as retraining uses it."""

    async def start(
        self,
        shadow_variant: str,
        primary_variant: str,
        traffic_percent: float,
        target_samples: int,
        auto_promote: bool,
    ) -> Any: ...

    async def status(self) -> Any: ...

    async def promotion_check(self) -> Any: ...

    async def promote(self) -> Any: ...

    async def rollback(self) -> Any: ...


def _failed(outcome: Outcome) -> bool:
    return outcome.booked is False or bool(outcome.escalated)


def _text(outcome: Outcome) -> str:
    parts = [outcome.text or ""]
    parts += [str(m.get("content") or "") for m in outcome.messages if isinstance(m, dict)]
    return "\n".join(p for p in parts if p)


def _reasons_of(check: Any) -> list[str]:
    reasons = check.get("reasons") if isinstance(check, Mapping) else None
    return [str(r) for r in reasons] if isinstance(reasons, list) else []


class Retraining:
    def __init__(
        self,
        rows: Rows[RetrainingSession],
        *,
        feedback: FeedbackStore,
        versions: VersionRegistry,
        drift: DriftMonitor,
        chat: Chat,
        settings: RetrainingSettings,
        evaluation: EvaluationSettings,
        shadow: Callable[[], ShadowRunner | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rows = rows
        self._feedback = feedback
        self._versions = versions
        self._drift = drift
        self._chat = chat
        self.settings = settings
        self._evaluation = evaluation
        self._shadow_runner = shadow
        self._clock = clock

    # --- queries -------------------------------------------------------------------------

    async def get(self, session_id: str) -> RetrainingSession:
        found = await self.rows.get(session_id)
        if found is None:
            raise NotFound(f"No retraining session {session_id!r}.", code="session_not_found")
        return found

    async def history(
        self, variant: str | None = None, *, limit: int = 50
    ) -> list[RetrainingSession]:
        where = {} if variant is None else {"variant": variant}
        return await self.rows.find(
            where=where, order_by="started_at", newest_first=True, limit=limit
        )

    async def check(self, variant: str) -> dict[str, Any]:
        """Run drift detection now and say whether it (and the cooldown) calls for retraining."""
        detection = await self._drift.detect(variant)
        severities = [
            m.get("severity")
            for m in detection.metrics.values()
            if isinstance(m, dict) and m.get("drift")
        ]
        reasons = []
        if "high" in severities:
            reasons.append("high-severity drift")
        if severities.count("medium") >= 2:
            reasons.append("two or more medium-severity drifts")
        last = await self.history(variant, limit=1)
        cooldown = self.settings.cooldown_days * 86400
        remaining = 0.0
        if last:
            remaining = max(0.0, last[0].started_at + cooldown - self._clock())
        blocked = []
        if remaining > 0:
            blocked.append(f"cooldown: {remaining / 3600:.1f} h left since the last session")
        return {
            "variant": variant,
            "shouldRetrain": bool(reasons) and not blocked,
            "reasons": reasons,
            "blockedBy": blocked,
            "cooldownRemainingSeconds": remaining,
            "detection": detection.to_json(),
        }

    # --- the state machine ---------------------------------------------------------------

    async def start(
        self, variant: str, *, trigger: Mapping[str, Any] | None = None
    ) -> RetrainingSession:
        """Open a session and run it up to the shadow test (or to its end)."""
        running = [
            s
            for s in await self.history(variant, limit=20)
            if s.status in ("running", "awaiting_finalize")
        ]
        if running:
            raise Conflict(f"Variant {variant!r} already has session {running[0].id} open.")
        base = await self._versions.active(variant)
        if base is None:
            raise InvalidRequest(f"Variant {variant!r} has no active version to improve.")
        now = self._clock()
        session = RetrainingSession(
            id=f"rt_{uuid.uuid4().hex[:16]}",
            variant=variant,
            status="running",
            step="collect",
            trigger=dict(trigger or {"type": "manual"}),
            state={},
            reasons=[],
            base_version=base.version,
            new_version=None,
            started_at=now,
            updated_at=now,
        )
        await self.rows.put(session)
        return await self.advance(session)

    async def resume(self) -> list[RetrainingSession]:
        """Continue every session a previous process left running."""
        open_sessions = await self.rows.find(where={"status": "running"}, order_by="started_at")
        return [await self.advance(session) for session in open_sessions]

    async def advance(self, session: RetrainingSession) -> RetrainingSession:
        while session.status == "running" and session.step != "finalize":
            step = getattr(self, f"_step_{session.step}")
            try:
                session = await step(session)
            except Exception as exc:  # a step that fails ends the session, with the reason
                session = self._end(session, "failed", [f"{session.step} failed: {exc}"])
            await self.rows.put(session)
        return session

    def _next(self, session: RetrainingSession, **state: Any) -> RetrainingSession:
        following = STEPS[STEPS.index(session.step) + 1]
        status = "awaiting_finalize" if following == "finalize" else "running"
        return dataclasses.replace(
            session,
            step=following,
            status=status,
            state={**session.state, **state},
            updated_at=self._clock(),
        )

    def _end(
        self, session: RetrainingSession, status: str, reasons: list[str]
    ) -> RetrainingSession:
        now = self._clock()
        return dataclasses.replace(
            session,
            status=status,
            reasons=[*session.reasons, *reasons],
            updated_at=now,
            completed_at=now,
        )

    async def _step_collect(self, session: RetrainingSession) -> RetrainingSession:
        recent = await self._feedback.outcomes(variant=session.variant)
        recent = recent[-self.settings.conversations :]
        if len(recent) < self.settings.min_conversations:
            return self._end(
                session,
                "failed",
                [
                    f"only {len(recent)} conversations; at least "
                    f"{self.settings.min_conversations} needed",
                ],
            )
        failures = [o for o in recent if _failed(o)]
        examples = [{"text": _text(o), "messages": len(o.messages)} for o in failures]
        data = {
            "conversations": len(recent),
            "successes": sum(1 for o in recent if o.booked),
            "failures": len(failures),
            "escalations": sum(1 for o in recent if o.escalated),
        }
        return self._next(session, data=data, failures=examples)

    async def _step_analyze(self, session: RetrainingSession) -> RetrainingSession:
        failures = [
            FailedConversation(str(f["text"]), int(f["messages"]))
            for f in session.state.get("failures", [])
        ]
        return self._next(session, analysis=analyze_failures(failures).to_json())

    async def _step_generate(self, session: RetrainingSession) -> RetrainingSession:
        base = await self._versions.get(session.variant, session.base_version or 0)
        examples = [f["text"] for f in session.state.get("failures", [])][: self.settings.examples]
        # Worded so the input guard does not take it for an injection ("new system
        # prompt" is one of its override phrases): it goes through the gateway too.
        request = (
            "Rewrite the assistant instructions below so fewer conversations end without "
            "success. Answer with the rewritten instructions only.\n\n"
            f"Current instructions:\n{base.system_prompt}\n\n"
            f"Failure analysis:\n{orjson.dumps(session.state.get('analysis')).decode()}\n\n"
            "Failed conversations:\n" + "\n---\n".join(examples)
        )
        body = await self._chat(
            [
                {"role": "system", "content": "You write instructions for assistants."},
                {"role": "user", "content": request},
            ],
            model=self.settings.optimizer_model,
        )
        prompt = str(body["choices"][0]["message"].get("content") or "").strip()
        if not prompt:
            return self._end(session, "failed", ["the optimizer returned an empty prompt"])
        return self._next(session, prompt=prompt, optimizer=self.settings.optimizer_model)

    async def _step_register(self, session: RetrainingSession) -> RetrainingSession:
        # A restart between registering and saving must not register twice.
        for existing in await self._versions.versions(session.variant):
            if existing.metadata.get("retrainingSession") == session.id:
                return dataclasses.replace(self._next(session), new_version=existing.version)
        analysis = session.state.get("analysis") or {}
        patterns = analysis.get("patterns", {})
        changes = [
            f"addresses {name} failures ({p['count']})"
            for name, p in patterns.items()
            if p.get("count")
        ]
        version = await self._versions.register(
            session.variant,
            str(session.state["prompt"]),
            description=f"retraining session {session.id}",
            created_by="retraining",
            changes=changes,
            metadata={"retrainingSession": session.id},
            tags=["experimental"],
        )
        return dataclasses.replace(self._next(session), new_version=version.version)

    async def _step_evaluate(self, session: RetrainingSession) -> RetrainingSession:
        settings = self._evaluation
        cases = await asyncio.to_thread(_cases, Path(settings.cases_path))
        evaluator = Evaluator(
            self._chat,
            model=settings.model,
            judge_model=settings.judge_model,
            min_score=settings.min_score,
        )
        report = await evaluator.run(str(session.state["prompt"]), cases)
        result = report.to_json()
        if not report.passed:
            await self._versions.tag(session.variant, session.new_version or 0, "rollback")
            ended = self._end(
                session,
                "rolled_back",
                [
                    f"offline evaluation average {report.average:.2f} is below "
                    f"{settings.min_score:.2f}",
                ],
            )
            return dataclasses.replace(ended, state={**ended.state, "evaluation": result})
        return self._next(session, evaluation=result)

    async def _step_shadow(self, session: RetrainingSession) -> RetrainingSession:
        runner = self._shadow_runner()
        name = f"{session.variant}_v{session.new_version}"
        if runner is None:
            return self._next(session, shadow={"variant": name, "skipped": "no shadow runner"})
        started = await runner.start(
            name,
            session.variant,
            self.settings.shadow_traffic_percent,
            self.settings.shadow_samples,
            False,
        )
        return self._next(session, shadow={"variant": name, "started": _plain(started)})

    async def finalize(self, session_id: str) -> RetrainingSession:
        """Promote the candidate if the promotion check holds, else roll back."""
        session = await self.get(session_id)
        if session.status != "awaiting_finalize":
            raise Conflict(f"Session {session_id} is {session.status}, not awaiting finalize.")
        runner = self._shadow_runner()
        shadow_state = session.state.get("shadow") or {}
        if runner is None or shadow_state.get("skipped"):
            promote = True
            reasons = ["no shadow test ran; offline evaluation passed"]
            check: Any = None
        else:
            check = await runner.promotion_check()
            promote = bool(check.get("shouldPromote")) if isinstance(check, Mapping) else False
            reasons = _reasons_of(check) or [
                "shadow promotion check passed" if promote else "shadow promotion check failed"
            ]
        new = session.new_version or 0
        if promote:
            await self._versions.activate(session.variant, new)
            await self._versions.tag(session.variant, new, "production")
            if runner is not None and check is not None:
                await runner.promote()
            status = "promoted"
        else:
            await self._versions.tag(session.variant, new, "rollback")
            if runner is not None and check is not None:
                await runner.rollback()
            status = "rolled_back"
        ended = self._end(dataclasses.replace(session, step="finalize"), status, reasons)
        ended = dataclasses.replace(ended, state={**ended.state, "promotionCheck": _plain(check)})
        await self.rows.put(ended)
        return ended


def _cases(path: Path) -> list[EvalCase]:
    """The evaluation cases, seeded with the defaults when the file is missing."""
    if not path.exists():
        seed_cases(path)
    return load_cases(path)


def _plain(value: Any) -> Any:
    """A JSON-safe copy of what the shadow runner returned."""
    try:
        return orjson.loads(orjson.dumps(value, default=str))
    except TypeError:
        return str(value)
