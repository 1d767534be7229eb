"""Generate Ferry's application icons for installers and bundles from the tray's artwork.

    python packaging/make_icons.py [--out DIR]

Writes ferry-<N>.png for N in 16..512 (into the daemon's package data, daemon/autostart/templates/icons/, which
the Linux menu entry installs: the daemon must not import the tray), ferry.ico (16-256, for Windows executables
and shortcuts) and ferry.icns (32-1024, for the macOS .app) into packaging/icons/; with --out, all into DIR.
tests/packaging/test_packaging_icons.py fails when a committed PNG differs from what the artwork draws.
Each size is drawn by `ferrysync.tray.icons.app_icon(size)` at that
size rather than scaled from one master, so small sizes stay crisp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry holds
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)  # the sizes Pillow's ICNS writer stores (with @2x variants)
DEFAULT_OUT = Path(__file__).resolve().parent / "icons"
PNG_OUT = Path(__file__).resolve().parents[1] / "daemon" / "autostart" / "templates" / "icons"


def build(out_dir: Path, png_dir: Path | None = None) -> list[Path]:
    """Write every icon file into out_dir (the PNGs into png_dir if given) and return their paths."""
    from ferrysync.tray.icons import app_icon

    png_dir = png_dir or out_dir
    for folder in (out_dir, png_dir):
        folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for size in PNG_SIZES:
        path = png_dir / f"ferry-{size}.png"
        app_icon(size).save(path, format="PNG", optimize=True)
        written.append(path)

    ico = out_dir / "ferry.ico"
    ico_images = [app_icon(size) for size in ICO_SIZES]
    ico_images[-1].save(
        ico,
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=ico_images[:-1],
        bitmap_format="png",
    )
    written.append(ico)

    icns = out_dir / "ferry.icns"
    icns_images = [app_icon(size) for size in ICNS_SIZES]
    icns_images[-1].save(icns, format="ICNS", append_images=icns_images[:-1])
    written.append(icns)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"one folder for every file (default: PNGs to {PNG_OUT}, the rest to {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        paths = build(args.out, None) if args.out else build(DEFAULT_OUT, PNG_OUT)
    except ImportError as exc:
        print(
            f"make_icons: the tray's artwork is not importable ({exc}); pip install -e . first",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"make_icons: cannot write icons to {args.out}: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
