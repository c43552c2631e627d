"""Draw docs/img/drift.png: daily booking rate and drift alarms over simulated traffic.

100 quiet days at a 75% booking rate, then 20 days at 60%, 120 conversations a day
(seeded; the same generator as ``tests/lifecycle/traffic.py``). Each day is checked
as the gateway does: the 7 days before it against that day. Run: ``python scripts/drift_plot.py``
(needs the ``figures`` and ``lifecycle`` extras).
"""

from __future__ import annotations

import random
from pathlib import Path

from steadyllm.policy.drift import WindowSample, detect_drift

ACTIONS = ("collect_info", "check_availability", "book_appointment", "confirm")
Row = tuple[bool, bool, float, float, str]


def day(rng: random.Random, n: int, *, booking: float) -> list[Row]:
    """``n`` conversations (as ``tests/lifecycle/traffic.py`` makes them)."""
    return [
        (
            rng.random() < booking,
            rng.random() < 0.10,
            0.002 * rng.lognormvariate(0, 0.3),
            800 * rng.lognormvariate(0, 0.3),
            rng.choices(ACTIONS, (0.3, 0.3, 0.25, 0.15))[0],
        )
        for _ in range(n)
    ]


def sample(rows: list[Row]) -> WindowSample:
    actions: dict[str, int] = {}
    for row in rows:
        actions[row[4]] = actions.get(row[4], 0) + 1
    return WindowSample(
        conversations=len(rows),
        bookings=sum(1 for r in rows if r[0]),
        escalations=sum(1 for r in rows if r[1]),
        costs=tuple(r[2] for r in rows),
        latencies=tuple(r[3] for r in rows),
        actions=actions,
    )


OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "drift.png"


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = random.Random(20240501)
    days = [day(rng, 120, booking=0.75 if i < 107 else 0.60) for i in range(127)]
    xs, rates, alarms, severities = [], [], [], []
    for today in range(7, 127):
        baseline = sample([row for d in days[today - 7 : today] for row in d])
        report = detect_drift(baseline, sample(days[today]))
        booking = report.metrics[0]
        xs.append(today - 7)
        rates.append(booking.recent)
        alarms.append(report.drift_detected)
        severities.append(report.severity)
    quiet = sum(alarms[:100])
    drifted = sum(alarms[100:])
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=110)
    ax.plot(xs, rates, color="#4477aa", lw=1.2, label="daily booking rate")
    ax.axhline(0.75, color="#999999", lw=0.8, ls="--")
    ax.axvline(99.5, color="#cc6677", lw=0.8, ls=":", label="rate falls to 60%")
    colors = {"low": "#ddcc77", "medium": "#ee8866", "high": "#aa3377"}
    for x, rate, alarm, severity in zip(xs, rates, alarms, severities, strict=True):
        if alarm:
            ax.scatter([x], [rate], color=colors.get(severity or "low"), zorder=3, s=22)
    for name, color in colors.items():
        ax.scatter([], [], color=color, s=22, label=f"alarm ({name})")
    ax.set_xlabel("day")
    ax.set_ylabel("booking rate")
    ax.set_title(f"Drift alarms: {quiet} of 100 quiet days, {drifted} of 20 days after the drop")
    ax.legend(loc="lower left", fontsize=8, ncol=3)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}: {quiet} quiet-day alarms, {drifted}/20 after the drop")


if __name__ == "__main__":
    main()
