"""Prometheus metrics in the text exposition format, kept by hand (a few counters do not need a dependency).

Counted per process: requests by method, route template (never the raw path: block hashes would explode the
label set) and status, with a latency histogram; commits and their ops; blocks uploaded and their bytes; blocks
garbage-collected; and, as a gauge, the long-polls waiting right now. Scrape every process of a deployment.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_COUNTERS = {
    "ferry_commits_total": "Commit requests that changed something",
    "ferry_commit_ops_total": "Ops applied successfully by commits",
    "ferry_blocks_uploaded_total": "Blocks received and stored (after hash verification)",
    "ferry_block_bytes_uploaded_total": "Bytes of the blocks received and stored",
    "ferry_block_bytes_downloaded_total": "Bytes of the blocks served to clients (GET /v1/blocks/{hash}, "
                                          "POST /v1/blocks/fetch)",
    "ferry_blocks_collected_total": "Stored blocks deleted by garbage collection",
    "ferry_blocks_corrupt_total": "Block reads refused because the stored bytes no longer match the hash",
    "ferry_slow_connections_closed_total": "Connections closed for sending their request too slowly, or evicted "
                                           "while waiting for headers (server/transport.py)",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latency: dict[tuple[str, str], list[float]] = {}  # bucket counts..., then sum, then count
        self._counters: dict[str, float] = dict.fromkeys(_COUNTERS, 0.0)
        self.long_polls_waiting = 0

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def waiting(self, delta: int) -> None:
        with self._lock:
            self.long_polls_waiting += delta

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            row = self._latency.setdefault((method, route), [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += seconds
            row[-1] += 1

    def render(self) -> str:
        with self._lock:
            out = ["# HELP ferry_http_requests_total HTTP requests by method, route and status",
                   "# TYPE ferry_http_requests_total counter"]
            for (method, route, status), n in sorted(self._requests.items()):
                out.append(f'ferry_http_requests_total{{method="{method}",route="{_esc(route)}",'
                           f'status="{status}"}} {n}')
            out += ["# HELP ferry_http_request_duration_seconds HTTP request latency by method and route",
                    "# TYPE ferry_http_request_duration_seconds histogram"]
            for (method, route), row in sorted(self._latency.items()):
                labels = f'method="{method}",route="{_esc(route)}"'
                for bound, hits in zip(BUCKETS, row, strict=False):
                    out.append(f'ferry_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {hits:g}')
                out.append(f'ferry_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {row[-1]:g}')
                out.append(f"ferry_http_request_duration_seconds_sum{{{labels}}} {row[-2]:.6f}")
                out.append(f"ferry_http_request_duration_seconds_count{{{labels}}} {row[-1]:g}")
            for name, text in _COUNTERS.items():
                out += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {self._counters[name]:g}"]
            out += ["# HELP ferry_long_polls_waiting Change-feed long-polls waiting now",
                    "# TYPE ferry_long_polls_waiting gauge", f"ferry_long_polls_waiting {self.long_polls_waiting}"]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template (unmatched paths count as "other")."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "other"
            self.metrics.observe(scope["method"], name, status, time.perf_counter() - started)
