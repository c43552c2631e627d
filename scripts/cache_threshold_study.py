"""Choose the semantic cache's thresholds from labelled data, and show the trade-off.

For each matcher (Jaccard on word sets; cosine on all-MiniLM-L6-v2 embeddings when
the ``embeddings`` extra is installed) and each threshold, on the labelled pairs in
``tests/data/cache_pairs.tsv``:

- hit rate on paraphrases: the share of paraphrase pairs that would be served from
  each other's entry (similarity at or above the threshold, and the meaning guard
  allows it);
- false-hit rate on near misses: the same share among pairs that must not match.

Both are shown with the guard on (as the gateway runs) and off. The default
threshold is the lowest on a 0.05 grid whose false-hit rate (guard on) is at most
1% both there and one grid step lower, a margin against tuning to this one set.

``tests/data/cache_pairs_holdout.tsv`` was written after the guard and the defaults
were settled and is never used to choose anything: its rates at the defaults say
how the choice carries over to wording it was not tuned on.

Writes ``docs/img/cache_thresholds.png`` and the table between the
``thresholds`` markers of ``docs/CACHE.md``. Run: ``python scripts/cache_threshold_study.py``.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from steadyllm.cache.embedding import embeddings_available, load_minilm  # noqa: E402
from steadyllm.policy.meaning_guard import conflict, meaning_of  # noqa: E402
from steadyllm.policy.similarity import jaccard, word_set  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "cache_pairs.tsv"
HOLDOUT = ROOT / "tests" / "data" / "cache_pairs_holdout.tsv"
PLOT = ROOT / "docs" / "img" / "cache_thresholds.png"
DOC = ROOT / "docs" / "CACHE.md"
MAX_FALSE_HITS = 0.01
GRID = [round(0.40 + 0.05 * i, 2) for i in range(12)]  # 0.40 .. 0.95
FINE = [round(0.30 + 0.005 * i, 3) for i in range(141)]  # 0.30 .. 1.00, for the plot


@dataclass(frozen=True)
class Pair:
    label: str
    kind: str
    domain: str
    a: str
    b: str


def read_pairs(path: Path = PAIRS) -> list[Pair]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [Pair(**row) for row in csv.DictReader(handle, delimiter="\t")]


def similarities(matcher: str, pairs: list[Pair]) -> list[float]:
    if matcher == "jaccard":
        return [jaccard(word_set(p.a), word_set(p.b)) for p in pairs]
    model = load_minilm()
    left = model.encode([p.a for p in pairs])
    right = model.encode([p.b for p in pairs])
    return [float(x @ y) for x, y in zip(left, right, strict=True)]


@dataclass(frozen=True)
class Rates:
    hit: float  # paraphrases served, guard on
    false_hit: float  # near misses served, guard on
    hit_unguarded: float
    false_hit_unguarded: float


def rates(pairs: list[Pair], sims: list[float], allowed: list[bool], t: float) -> Rates:
    def share(label: str, guarded: bool) -> float:
        rows = [(s, ok) for p, s, ok in zip(pairs, sims, allowed, strict=True) if p.label == label]
        served = sum(1 for s, ok in rows if s >= t - 1e-9 and (ok or not guarded))
        return served / len(rows)

    return Rates(
        share("paraphrase", True),
        share("near_miss", True),
        share("paraphrase", False),
        share("near_miss", False),
    )


def choose(pairs: list[Pair], sims: list[float], allowed: list[bool]) -> float:
    for index, t in enumerate(GRID):
        below = GRID[index - 1] if index else None
        ok_here = rates(pairs, sims, allowed, t).false_hit <= MAX_FALSE_HITS
        ok_below = below is None or rates(pairs, sims, allowed, below).false_hit <= MAX_FALSE_HITS
        if ok_here and ok_below:
            return t
    return GRID[-1]


def false_hits(pairs: list[Pair], sims: list[float], allowed: list[bool], t: float) -> list[str]:
    return [
        f"{p.kind}: {p.a!r} / {p.b!r} ({s:.2f})"
        for p, s, ok in zip(pairs, sims, allowed, strict=True)
        if p.label == "near_miss" and ok and s >= t - 1e-9
    ]


def plot(results: dict[str, tuple[list[float], list[bool], float]], pairs: list[Pair]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.4), squeeze=False)
    for axis, (matcher, (sims, allowed, chosen)) in zip(axes[0], results.items(), strict=True):
        curves = [rates(pairs, sims, allowed, t) for t in FINE]
        axis.plot(FINE, [c.hit for c in curves], color="tab:green", label="paraphrases hit (guard)")
        axis.plot(
            FINE, [c.false_hit for c in curves], color="tab:red", label="near misses hit (guard)"
        )
        axis.plot(
            FINE,
            [c.hit_unguarded for c in curves],
            color="tab:green",
            linestyle=":",
            label="paraphrases hit (no guard)",
        )
        axis.plot(
            FINE,
            [c.false_hit_unguarded for c in curves],
            color="tab:red",
            linestyle=":",
            label="near misses hit (no guard)",
        )
        axis.axhline(MAX_FALSE_HITS, color="grey", linewidth=0.8, linestyle="--")
        axis.axvline(chosen, color="black", linewidth=1.0)
        axis.annotate(
            f"default {chosen:.2f}", (chosen, 0.9), xytext=(4, 0), textcoords="offset points"
        )
        title = "Jaccard on word sets" if matcher == "jaccard" else "cosine, all-MiniLM-L6-v2"
        axis.set_title(title)
        axis.set_xlabel("threshold")
        axis.set_ylabel("share of pairs served from cache")
        axis.set_xlim(FINE[0], FINE[-1])
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(loc="lower left", fontsize=8)
    counts = (
        f"{sum(p.label == 'paraphrase' for p in pairs)} paraphrase pairs, "
        f"{sum(p.label == 'near_miss' for p in pairs)} near-miss pairs"
    )
    figure.suptitle(f"Semantic cache thresholds ({counts}); grey line: 1% false hits")
    figure.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, dpi=110)


def table(results: dict[str, tuple[list[float], list[bool], float]], pairs: list[Pair]) -> str:
    lines = [
        "| matcher | threshold | paraphrases hit | near misses hit | "
        "paraphrases hit, no guard | near misses hit, no guard |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for matcher, (sims, allowed, chosen) in results.items():
        for t in GRID:
            r = rates(pairs, sims, allowed, t)
            mark = " **(default)**" if t == chosen else ""
            lines.append(
                f"| {matcher} | {t:.2f}{mark} | {r.hit:.1%} | {r.false_hit:.1%} | "
                f"{r.hit_unguarded:.1%} | {r.false_hit_unguarded:.1%} |"
            )
    return "\n".join(lines)


def holdout_table(results: dict[str, tuple[list[float], list[bool], float]]) -> str:
    pairs = read_pairs(HOLDOUT)
    allowed = [conflict(meaning_of(p.a), meaning_of(p.b)) is None for p in pairs]
    lines = [
        "| matcher | threshold | paraphrases hit | near misses hit | near misses hit, no guard |",
        "| --- | --- | --- | --- | --- |",
    ]
    for matcher, (_, _, chosen) in results.items():
        sims = similarities(matcher, pairs)
        r = rates(pairs, sims, allowed, chosen)
        lines.append(
            f"| {matcher} | {chosen:.2f} | {r.hit:.1%} | {r.false_hit:.1%} | "
            f"{r.false_hit_unguarded:.1%} |"
        )
        for line in false_hits(pairs, sims, allowed, chosen):
            print(f"  holdout false hit ({matcher}):", line)
    counts = (
        f"{sum(p.label == 'paraphrase' for p in pairs)} paraphrase pairs, "
        f"{sum(p.label == 'near_miss' for p in pairs)} near-miss pairs"
    )
    return f"Held-out set ({counts}), at the defaults:\n\n" + "\n".join(lines)


def write_between(doc: str, marker: str, text: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.DOTALL)
    return pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), doc)


def main() -> None:
    pairs = read_pairs()
    allowed = [conflict(meaning_of(p.a), meaning_of(p.b)) is None for p in pairs]
    matchers = ["jaccard"] + (["embedding"] if embeddings_available() else [])
    if "embedding" not in matchers:
        print("embeddings extra not installed: the study covers Jaccard only", file=sys.stderr)
    results: dict[str, tuple[list[float], list[bool], float]] = {}
    for matcher in matchers:
        sims = similarities(matcher, pairs)
        chosen = choose(pairs, sims, allowed)
        results[matcher] = (sims, allowed, chosen)
        r = rates(pairs, sims, allowed, chosen)
        print(
            f"{matcher}: default {chosen:.2f}: paraphrases hit {r.hit:.1%}, "
            f"near misses hit {r.false_hit:.1%}"
        )
        for line in false_hits(pairs, sims, allowed, chosen):
            print("  false hit:", line)
    plot(results, pairs)
    text = table(results, pairs)
    held_out = holdout_table(results)
    print(text)
    print(held_out)
    if DOC.exists():
        doc = DOC.read_text(encoding="utf-8")
        doc = write_between(doc, "thresholds", text)
        doc = write_between(doc, "holdout", held_out)
        DOC.write_text(doc)
        print(f"tables written to {DOC.relative_to(ROOT)}")
    print(f"plot written to {PLOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
