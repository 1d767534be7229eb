"""GET /metrics: Prometheus text with request counts by route template, commits, blocks and waiting long-polls."""

from __future__ import annotations

import re

import requests
from srvapi import Api, Server


def _scrape(server: Server) -> dict[str, float]:
    r = requests.get(f"{server.url}/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_count_requests_commits_and_blocks(shared_server: Server, alice: Api) -> None:
    before = _scrape(shared_server)
    entry = alice.put_file("m.txt", b"metrics " * 100)
    alice.get(f"/v1/blocks/{entry['blocks'][0]}")
    after = _scrape(shared_server)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert delta("ferry_commits_total") >= 1
    assert delta("ferry_commit_ops_total") >= 1
    assert delta("ferry_blocks_uploaded_total") >= 1
    assert delta("ferry_block_bytes_uploaded_total") >= 800
    assert delta("ferry_block_bytes_downloaded_total") == 800  # the one block fetched back
    download = 'ferry_http_requests_total{method="GET",route="/v1/blocks/{digest}",status="200"}'
    assert delta(download) >= 1
    count = 'ferry_http_request_duration_seconds_count{method="GET",route="/v1/blocks/{digest}"}'
    assert delta(count) >= 1
    assert not any(re.search(r"[0-9a-f]{64}", name) for name in after)  # labels are templates, never hashes
    assert after["ferry_long_polls_waiting"] >= 0
