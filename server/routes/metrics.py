"""GET /metrics: this process's counters in Prometheus text format (no auth: keep it off the public proxy)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from ferrysync.server.context import get_ctx

router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=True,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}})
def metrics(request: Request) -> PlainTextResponse:
    """Requests by route and status with latency histograms, commits, blocks uploaded and collected, and the
    long-polls waiting now."""
    return PlainTextResponse(get_ctx(request).metrics.render(), media_type="text/plain; version=0.0.4")
