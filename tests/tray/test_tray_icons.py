"""The icons: every state at every size a desktop asks for, crisp at 16 px, distinct, and safe to hand out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from ferrysync.tray.icons import MAX_SIZE, MIN_SIZE, STATES, app_icon, render_icon

SIZES = (16, 20, 22, 24, 32, 48, 64, 128, 256)


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 4


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("dark", [False, True])
def test_every_state_renders_at_every_size(state: str, size: int, dark: bool) -> None:
    img = render_icon(state, size, dark=dark)
    assert img.mode == "RGBA"
    assert img.size == (size, size)
    alpha = img.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # transparent corners, opaque artwork
    bbox = alpha.getbbox()
    assert bbox is not None
    assert bbox[2] - bbox[0] >= size * 0.85


@pytest.mark.parametrize("size", [16, 22, 32, 64])
def test_states_are_told_apart_at_a_glance(size: int) -> None:
    images = {s: render_icon(s, size) for s in STATES}
    for a in STATES:
        for b in STATES:
            if a < b:
                assert mean_diff(images[a], images[b]) > 8, (a, b)


@pytest.mark.parametrize("state", STATES)
def test_dark_panel_variant_differs(state: str) -> None:
    assert render_icon(state, 22) != render_icon(state, 22, dark=True)


def _solid_runs(img: Image.Image, column: int) -> int:
    """Longest run of fully opaque pure-white pixels down one column."""
    best = run = 0
    for y in range(img.height):
        if img.getpixel((column, y)) == (255, 255, 255, 255):
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


def test_pause_bars_sit_on_whole_pixels_at_16_px() -> None:
    img = render_icon("paused", 16)
    solid = [x for x in range(16) if _solid_runs(img, x) >= 6]
    assert len(solid) == 4  # two bars, two px wide each, no half-covered columns
    edges = [x for x in range(16) if 0 < _solid_runs(img, x) < 6]
    assert not edges


INKS = {"idle": ((31, 111, 235), (255, 255, 255)), "paused": ((100, 116, 139), (255, 255, 255)),
        "error": ((217, 48, 37), (255, 255, 255)), "attention": ((242, 153, 0), (32, 33, 36))}


def blurred_pixels(img: Image.Image, fill: tuple[int, int, int], ink: tuple[int, int, int]) -> int:
    """Opaque pixels that are neither the disc's colour nor the glyph's: glyph edges smeared across pixels."""
    count = 0
    for y in range(1, img.height - 1):
        for x in range(1, img.width - 1):
            px = img.getpixel((x, y))
            assert isinstance(px, tuple)
            r, g, b, a = px
            if a == 255 and min(max(abs(r - c[0]), abs(g - c[1]), abs(b - c[2])) for c in (fill, ink)) > 48:
                count += 1
    return count


@pytest.mark.parametrize("state", ["paused", "error", "attention"])
def test_glyphs_are_pixel_exact_at_16_px(state: str) -> None:
    """Bars, crosses and exclamation marks land on whole pixels: not one smeared pixel inside the disc."""
    fill, ink = INKS[state]
    assert blurred_pixels(render_icon(state, 16), fill, ink) == 0


def test_hinting_beats_downscaling_at_16_px() -> None:
    """Drawn for 16 px, the boat has fewer smeared pixels than the 256 px artwork scaled down."""
    fill, ink = INKS["idle"]
    hinted = blurred_pixels(render_icon("idle", 16), fill, ink)
    scaled = blurred_pixels(render_icon("idle", 256).resize((16, 16), Image.Resampling.LANCZOS), fill, ink)
    assert hinted < scaled, (hinted, scaled)


def rgba(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    pixel = img.getpixel(xy)
    assert isinstance(pixel, tuple), f"not an RGBA image: {img.mode}"
    return pixel


@pytest.mark.parametrize("size", [16, 32, 48, 64, 128, 256, 512, 1024])
def test_app_icon(size: int) -> None:
    img = app_icon(size)
    assert img.mode == "RGBA"
    assert img.size == (size, size)
    assert rgba(img, (size // 2, size // 10))[3] == 255  # the tile is opaque
    assert rgba(img, (0, 0))[3] < 255  # rounded corners


def test_app_icon_shares_the_artwork_with_up_to_date() -> None:
    """The boat of the idle icon is the boat of the app icon: white pixels overlap at the same size."""
    tray, app = render_icon("idle", 64), app_icon(64)
    white = [(x, y) for x in range(64) for y in range(64) if rgba(tray, (x, y))[:3] == (255, 255, 255)]
    overlap = sum(1 for xy in white if rgba(app, xy)[:3] == (255, 255, 255))
    assert overlap > 0.4 * len(white)


def test_images_handed_out_are_copies() -> None:
    first = render_icon("error", 22)
    first.paste((0, 0, 0, 0), (0, 0, 22, 22))
    assert render_icon("error", 22).getchannel("A").getbbox() is not None
    a = app_icon(32)
    a.paste((0, 0, 0, 0), (0, 0, 32, 32))
    assert app_icon(32).getchannel("A").getbbox() is not None


@pytest.mark.parametrize(("state", "size", "exc", "words"), [
    ("sleeping", 22, ValueError, "unknown icon state 'sleeping'"),
    ("idle", MIN_SIZE - 1, ValueError, "between"),
    ("idle", MAX_SIZE + 1, ValueError, "between"),
    ("idle", 22.5, TypeError, "must be an int"),
    ("idle", True, TypeError, "must be an int"),
])
def test_bad_arguments_are_refused_clearly(state: str, size: object, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        render_icon(state, size)  # type: ignore[arg-type,unused-ignore]
    if state == "idle":
        with pytest.raises(exc, match=words):
            app_icon(size)  # type: ignore[arg-type,unused-ignore]


def test_icon_sheet_for_the_docs(artifacts: Callable[[str], Path]) -> None:
    """Every state at the common tray sizes on a light and a dark panel, plus the app icon: for reviewers."""
    sizes = (16, 22, 32, 48)
    cell = max(sizes) + 8
    sheet = Image.new("RGBA", (cell * (len(STATES) + 1), cell * len(sizes) * 2), (0, 0, 0, 0))
    for band, (dark, bg) in enumerate(((False, (236, 236, 236, 255)), (True, (40, 40, 40, 255)))):
        top = band * cell * len(sizes)
        sheet.paste(Image.new("RGBA", (sheet.width, cell * len(sizes)), bg), (0, top))
        for row, size in enumerate(sizes):
            y = top + row * cell + (cell - size) // 2
            for col, state in enumerate(STATES):
                sheet.alpha_composite(render_icon(state, size, dark=dark), (col * cell + (cell - size) // 2, y))
            sheet.alpha_composite(app_icon(size), (len(STATES) * cell + (cell - size) // 2, y))
    path = artifacts("tray-icons.png")
    sheet.save(path, optimize=True)
    assert Image.open(path).size == sheet.size
