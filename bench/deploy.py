"""Deploy time and gateway overhead for examples/flask-hello, on a real ``waypost up``.

    python -m bench.deploy [--rounds 5] [--seconds 5] [--connections 16]

Prints a table: the cold deploy (environment built), warm deploys (environment
cached: the target is <= 3 s from `waypost deploy` to Running and routed), and
requests/s with p50/p99 straight to a replica vs through the gateway.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.loadgen import LoadResult, run_load
from tests.support.platform import EXAMPLES, Platform, free_port


def _timed_deploy(platform: Platform) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    result = platform.deploy(EXAMPLES / "flask-hello")
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="warm deploys to time")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as tmp:
        home = Path(tmp) / "home"
        platform = Platform(home, free_port(), free_port(), Path(tmp) / "up.log")
        platform.start()
        try:
            cold, _ = _timed_deploy(platform)
            warm = []
            result: dict[str, object] = {}
            for _ in range(args.rounds):
                seconds, result = _timed_deploy(platform)
                warm.append(seconds)
            version = result["version"]
            endpoint = platform.api_get(f"/api/v1/endpoints/acme/hello/flask-hello/{version}/web")
            address = endpoint["replicas"]["items"][0]["address"]
            path = f"/acme/hello/flask-hello/{version}/web/predict?name=Ada"
            direct = run_load(
                f"http://{address}{path}", connections=args.connections, seconds=args.seconds
            )
            gateway = run_load(
                f"{platform.gateway}{path}", connections=args.connections, seconds=args.seconds
            )
        finally:
            platform.stop()

    print(f"{'measure':<34}{'value':>14}")
    print(f"{'cold deploy (env built) s':<34}{cold:>14.2f}")
    print(f"{'warm deploy median s':<34}{statistics.median(warm):>14.2f}")
    print(f"{'warm deploy max s':<34}{max(warm):>14.2f}")
    print()
    _load_table({"direct to replica": direct, "through gateway": gateway})
    print(f"\ngateway/direct throughput: {gateway.rps / direct.rps:.2f}x")


def _load_table(rows: dict[str, LoadResult]) -> None:
    print(f"{'path':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'requests':>10}")
    for name, r in rows.items():
        print(
            f"{name:<22}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.errors:>8}{r.requests:>10}"
        )


if __name__ == "__main__":
    main()
