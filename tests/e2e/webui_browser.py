"""A real browser for the settings window: Debian's chromium driven by Playwright (see ../shared/RECIPES.md).

Tests that need it skip, saying why, where chromium or the playwright package is missing (tests/run.sh installs
both). `FERRY_WEBUI_SHOTS=1` makes `shot` write each page's picture to docs/images/webui-NAME.png for the guide.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("FERRY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TIMEOUT_MS = 20_000


def need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium here (tests/run.sh installs Debian's chromium package)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")


@contextmanager
def browser() -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    if os.environ.get("FERRY_WEBUI_SHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"webui-{name}.png"), full_page=True)
