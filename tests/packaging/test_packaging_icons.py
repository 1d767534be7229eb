"""packaging/make_icons.py turns the tray's artwork into the PNG, .ico and .icns files installers need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import IcoImagePlugin, Image

pytest.importorskip("ferrysync.tray.icons", reason="the tray's artwork (ferrysync.tray.icons) is not installed")

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "make_icons.py"


@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("icons")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 10
    return out


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_png_sizes(icons: Path, size: int) -> None:
    with Image.open(icons / f"ferry-{size}.png") as im:
        assert im.format == "PNG"
        assert im.size == (size, size)
        assert im.mode == "RGBA"
        assert im.getchannel("A").getpixel((0, 0)) == 0, "corners are transparent"


def test_ico_holds_every_windows_size(icons: Path) -> None:
    with Image.open(icons / "ferry.ico") as im:
        assert isinstance(im, IcoImagePlugin.IcoImageFile)
        assert {s[0] for s in im.info["sizes"]} == {16, 24, 32, 48, 64, 128, 256}
        # the 16 px entry is the one drawn for 16 px, not the 256 px one scaled down into a blur
        small = im.ico.getimage((16, 16))
        from ferrysync.tray.icons import app_icon

        assert small.convert("RGBA").tobytes() == app_icon(16).tobytes()


def test_icns_opens_with_retina_sizes(icons: Path) -> None:
    with Image.open(icons / "ferry.icns") as im:
        assert im.format == "ICNS"
        assert (512, 512, 2) in im.info["sizes"]
        assert (16, 16, 2) in im.info["sizes"]


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(blocker / "icons")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot write icons" in result.stderr


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_the_daemons_packaged_icons_are_the_artwork(size: int) -> None:
    """The Linux menu entry installs PNGs from the daemon's package data (the daemon may not import the tray):
    they must be what the tray's artwork draws today, or `python packaging/make_icons.py` was not run."""
    from importlib import resources

    from ferrysync.tray.icons import app_icon

    packaged = resources.files("ferrysync.daemon.autostart").joinpath("templates", "icons", f"ferry-{size}.png")
    with packaged.open("rb") as fh, Image.open(fh) as im:
        assert im.convert("RGBA").tobytes() == app_icon(size).tobytes(), "run python packaging/make_icons.py"
