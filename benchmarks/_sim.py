"""The simulated upstream for the benchmarks: ``steadyllm sim`` on uvloop.

The benchmarks run it as its own process (``python -m benchmarks._sim --port P
--latency-ms 50``) so the gateway and the load generator do not share its loop.
"""

from __future__ import annotations

import argparse
import asyncio

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import run_sim


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is missing only on Windows
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    plan = FaultPlan(latency_ms=args.latency_ms, token_delay_ms=args.token_delay_ms)
    run_sim("127.0.0.1", args.port, plan, print_fn=None)


if __name__ == "__main__":
    main()
