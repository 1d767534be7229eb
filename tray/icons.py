"""The tray's icons and the application icon, drawn with Pillow.

Every image is drawn at its target size: shapes are laid out in target pixels, snapped to the pixel grid
below 32 px (so 16 px bars and strokes land on whole pixels instead of blurring across two), then rasterised
on a canvas `_supersample(size)` times larger and box-reduced in premultiplied alpha for clean anti-aliased
edges. The state icons are a disc in the state's colour with a glyph; the application icon is the same Ferry
mark (a boat on the water) on a rounded tile. `dark=True` gives the variant for dark panels (a light rim,
light strokes where the glyph sits on the panel itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

STATES: tuple[str, ...] = ("idle", "syncing", "paused", "offline", "error", "attention")
"""Up to date, syncing, paused, offline, error, needs attention (conflicts or deletions waiting)."""

STATE_LABELS: dict[str, str] = {
    "idle": "Up to date",
    "syncing": "Syncing",
    "paused": "Paused",
    "offline": "Offline",
    "error": "Error",
    "attention": "Needs attention",
}

MIN_SIZE = 8
MAX_SIZE = 1024

RGBA = tuple[int, int, int, int]

BRAND = (31, 111, 235, 255)  # Ferry blue
_FILL: dict[str, RGBA] = {
    "idle": BRAND,
    "syncing": BRAND,
    "paused": (100, 116, 139, 255),
    "offline": (100, 116, 139, 255),  # only used for the ring; the disc itself is hollow
    "error": (217, 48, 37, 255),
    "attention": (242, 153, 0, 255),
}
_WHITE: RGBA = (255, 255, 255, 255)
_INK: RGBA = (32, 33, 36, 255)  # dark glyph on the amber disc: white on amber fails contrast


@dataclass(frozen=True)
class _Pen:
    """Maps layout in target pixels onto the supersampled canvas, snapping to the grid at small sizes."""

    size: int
    k: int  # supersampling factor

    @property
    def hint(self) -> bool:
        return self.size < 32

    def snap(self, v: float) -> float:
        """Round an edge to a whole target pixel when hinting."""
        return float(round(v)) if self.hint else v

    def stroke(self, frac: float, minimum: float = 1.0) -> float:
        """A stroke width in target px: a fraction of the size, at least `minimum`, whole px when hinting."""
        w = max(minimum, self.size * frac)
        return float(max(1, round(w))) if self.hint else w

    def c(self, v: float) -> float:
        """Target px → canvas px."""
        return v * self.k

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """A snapped rectangle in canvas px (x1/y1 exclusive, as pixel edges)."""
        s, c = self.snap, self.c
        return (c(s(x0)), c(s(y0)), c(s(x1)) - 1, c(s(y1)) - 1)


def _supersample(size: int) -> int:
    return 8 if size <= 64 else 4


def _finish(canvas: Image.Image, k: int) -> Image.Image:
    """Box-reduce in premultiplied alpha so edge pixels do not pick up the canvas's transparent black."""
    return canvas.convert("RGBa").reduce(k).convert("RGBA")


def _validate(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"icon size must be an int, not {type(size).__name__}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"icon size must be between {MIN_SIZE} and {MAX_SIZE} px, got {size}")


def _margin(size: int) -> float:
    """Panels crop nothing but the disc needs room for its anti-aliased rim."""
    return 0.0 if size < 24 else size / 32


# --- glyphs: each draws inside a disc of diameter `d` whose top-left corner is at (o, o), in target px ---


def _glyph_boat(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA, waves: bool) -> None:
    """The Ferry mark: a hull with a cabin; a wave line under it where there is room."""
    s = p.snap
    hull_top, hull_bot = s(o + d * 0.52), s(o + d * 0.70)
    hull = [
        (p.c(s(o + d * 0.20)), p.c(hull_top)),
        (p.c(s(o + d * 0.80)), p.c(hull_top)),
        (p.c(s(o + d * 0.68)), p.c(hull_bot)),
        (p.c(s(o + d * 0.32)), p.c(hull_bot)),
    ]
    draw.polygon(hull, fill=ink)
    cabin_gap = 1.0 if p.hint else d * 0.04
    draw.rectangle(p.box(o + d * 0.36, o + d * 0.30, o + d * 0.60, hull_top - cabin_gap), fill=ink)
    if waves and d >= 28:
        w = p.stroke(0.045)
        y = o + d * 0.79
        amp, n = d * 0.025, 48
        x0, x1 = o + d * 0.26, o + d * 0.74
        pts = [(p.c(x0 + (x1 - x0) * i / n), p.c(y + amp * math.sin(i / n * 4 * math.pi)))
               for i in range(n + 1)]
        draw.line(pts, fill=ink, width=round(p.c(w)), joint="curve")


def _arrow_arc(draw: ImageDraw.ImageDraw, p: _Pen, cx: float, cy: float, r: float, start: float, end: float,
               w: float, ink: RGBA) -> None:
    """An arc from `start` to `end` degrees (clockwise, Pillow's convention) ending in an arrowhead."""
    draw.arc((p.c(cx - r), p.c(cy - r), p.c(cx + r), p.c(cy + r)), start, end, fill=ink, width=round(p.c(w)))
    a = math.radians(end)
    tip_r = r - w / 2
    ex, ey = cx + tip_r * math.cos(a), cy + tip_r * math.sin(a)
    tx, ty = -math.sin(a), math.cos(a)  # clockwise tangent
    nx, ny = math.cos(a), math.sin(a)  # outward normal
    head = w * 1.5
    pts = [
        (ex + nx * head, ey + ny * head),
        (ex - nx * head, ey - ny * head),
        (ex + tx * head * 1.3, ey + ty * head * 1.3),
    ]
    draw.polygon([(p.c(x), p.c(y)) for x, y in pts], fill=ink)


def _glyph_sync(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA) -> None:
    """Two arrows chasing each other round a circle."""
    cx = cy = o + d / 2
    w = p.stroke(0.10, minimum=1.5 if not p.hint else 1)
    r = d * 0.27 + w / 2
    _arrow_arc(draw, p, cx, cy, r, 200, 320, w, ink)
    _arrow_arc(draw, p, cx, cy, r, 20, 140, w, ink)


def _glyph_pause(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA) -> None:
    bar = p.stroke(0.13, minimum=2)
    gap = p.stroke(0.11, minimum=2)
    x0 = p.snap(o + (d - 2 * bar - gap) / 2)
    y0, y1 = o + d * 0.29, o + d * 0.71
    draw.rectangle(p.box(x0, y0, x0 + bar, y1), fill=ink)
    draw.rectangle(p.box(x0 + bar + gap, y0, x0 + 2 * bar + gap, y1), fill=ink)


def _glyph_cross(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA) -> None:
    if p.hint and d < 24:
        # Pixel-exact staircases (an anti-aliased diagonal smears across a 16 px disc): each row gets the
        # diagonal pixel and its neighbours, clipped to the box, so the cross is symmetric both ways.
        lo, hi = round(o + d * 0.32), round(o + d * 0.68)
        for i in range(hi - lo):
            for x in (lo + i, hi - 1 - i):
                draw.rectangle(p.box(max(lo, x - 1), lo + i, min(hi, x + 2), lo + i + 1), fill=ink)
        return
    w = p.stroke(0.12, minimum=1.5 if not p.hint else 2)
    a, b = p.c(p.snap(o + d * 0.32)), p.c(p.snap(o + d * 0.68))
    width = round(p.c(w))
    draw.line([(a, a), (b, b)], fill=ink, width=width)
    draw.line([(a, b), (b, a)], fill=ink, width=width)


def _glyph_bang(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA) -> None:
    """An exclamation mark: bar and dot, both on whole pixels at small sizes."""
    w = p.stroke(0.13, minimum=2)
    x0 = p.snap(o + (d - w) / 2)
    top, bar_bot = o + d * 0.22, o + d * 0.58
    dot_top = p.snap(bar_bot) + max(1.0, p.snap(d * 0.08))
    draw.rectangle(p.box(x0, top, x0 + w, bar_bot), fill=ink)
    draw.rectangle(p.box(x0, dot_top, x0 + w, dot_top + w), fill=ink)


def _glyph_offline(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, ink: RGBA) -> None:
    """A hollow ring with a slash: no connection."""
    w = p.stroke(0.10, minimum=1.5 if not p.hint else 1)
    inset = w / 2 + (0.5 if p.hint else 0)
    draw.ellipse((p.c(o + inset - w / 2), p.c(o + inset - w / 2), p.c(o + d - inset + w / 2) - 1,
                  p.c(o + d - inset + w / 2) - 1), outline=ink, width=round(p.c(w)))
    lo, hi = o + d * 0.27, o + d * 0.73
    draw.line([(p.c(lo), p.c(hi)), (p.c(hi), p.c(lo))], fill=ink, width=round(p.c(w)))


def _disc(draw: ImageDraw.ImageDraw, p: _Pen, o: float, d: float, fill: RGBA, rim: RGBA) -> None:
    rim_w = max(1, round(p.c(max(1.0, d / 64))))
    draw.ellipse((p.c(o), p.c(o), p.c(o + d) - 1, p.c(o + d) - 1), fill=fill, outline=rim, width=rim_w)


def _rim(dark: bool) -> RGBA:
    """A hairline that separates the disc from the panel: light on dark panels, dark on light ones."""
    return (255, 255, 255, 200) if dark else (0, 0, 0, 70)


_GLYPHS: dict[str, Callable[[ImageDraw.ImageDraw, _Pen, float, float, RGBA], None]] = {
    "syncing": _glyph_sync,
    "paused": _glyph_pause,
    "error": _glyph_cross,
    "attention": _glyph_bang,
}


@lru_cache(maxsize=256)
def _render(state: str, size: int, dark: bool) -> Image.Image:
    p = _Pen(size, _supersample(size))
    canvas = Image.new("RGBA", (size * p.k, size * p.k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    m = _margin(size)
    o, d = m, size - 2 * m
    if state == "offline":
        ink: RGBA = (203, 213, 225, 255) if dark else (71, 85, 105, 255)
        _glyph_offline(draw, p, o, d, ink)
    else:
        _disc(draw, p, o, d, _FILL[state], _rim(dark))
        if state == "idle":
            _glyph_boat(draw, p, o, d, _WHITE, waves=True)
        else:
            _GLYPHS[state](draw, p, o, d, _INK if state == "attention" else _WHITE)
    return _finish(canvas, p.k)


def render_icon(state: str, size: int, *, dark: bool = False) -> Image.Image:
    """The tray icon for `state` (one of STATES) as a square RGBA image of `size` px.

    `dark=True` is the variant for dark panels. Returns a fresh image the caller may modify.
    """
    if state not in STATES:
        raise ValueError(f"unknown icon state {state!r}; expected one of {', '.join(STATES)}")
    _validate(size)
    return _render(state, size, bool(dark)).copy()


@lru_cache(maxsize=64)
def _render_app(size: int) -> Image.Image:
    p = _Pen(size, _supersample(size))
    k = p.k
    canvas = Image.new("RGBA", (size * k, size * k), (0, 0, 0, 0))
    m = 0.0 if size < 32 else size * 0.06  # platform icon grids leave a margin around the tile
    tile = size - 2 * m
    # Vertical gradient from a lighter to the brand blue, masked by a rounded tile.
    top, bottom = (74, 144, 245), BRAND[:3]
    grad = Image.new("RGBA", (1, 256))
    for y in range(256):
        t = y / 255
        grad.putpixel((0, y), (*(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)), 255))
    side = round(p.c(tile))
    grad = grad.resize((side, side), Image.Resampling.BILINEAR)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, side - 1, side - 1), radius=round(side * 0.22), fill=255)
    canvas.paste(grad, (round(p.c(m)), round(p.c(m))), mask)
    draw = ImageDraw.Draw(canvas)
    inner = tile * 1.04
    o = m + (tile - inner) / 2
    _glyph_boat(draw, p, o, inner, _WHITE, waves=True)
    return _finish(canvas, k)


def app_icon(size: int) -> Image.Image:
    """The application icon (launchers, installers, About): the Ferry mark on a rounded blue tile."""
    _validate(size)
    return _render_app(size).copy()
