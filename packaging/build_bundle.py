"""Build Ferry's standalone bundle for this OS with PyInstaller, then smoke-test it.

    python packaging/build_bundle.py [--dist DIR] [--work DIR] [--no-smoke]

Linux and Windows get a one-folder bundle `DIST/ferry/` (ferry, ferryd, ferry-tray and ferry-server together);
macOS gets `DIST/Ferry.app`. The smoke test runs the bundled programs as a user would: `ferry --version`,
`ferryd --version`, `ferry-server --help`, a real `ferry-server serve` answering /v1/health, and `ferry-tray`
importing each of this OS's pystray backends (under xvfb-run when there is no display). Exit status 0 means
built and healthy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = {"linux": "ferry-linux.spec", "darwin": "ferry-macos.spec", "win32": "ferry-windows.spec"}
TRAY_BACKENDS = {"linux": ("gtk", "appindicator", "xorg"), "darwin": ("darwin",), "win32": ("win32",)}
PROGRAMS = ("ferry", "ferryd", "ferry-tray", "ferry-server")


def platform_key() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform


def bin_dir(dist: Path, platform: str | None = None) -> Path:
    """Where the executables land: the one-folder bundle, or Contents/MacOS inside the .app."""
    if (platform or platform_key()) == "darwin":
        return dist / "Ferry.app" / "Contents" / "MacOS"
    return dist / "ferry"


def program(bins: Path, name: str) -> Path:
    return bins / (name + ".exe" if os.name == "nt" else name)


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller on this OS's spec (icons are regenerated first) and return the executables' folder."""
    subprocess.run([sys.executable, str(HERE / "make_icons.py")], check=True, stdout=subprocess.DEVNULL)
    spec = HERE / "pyinstaller" / SPECS[platform_key()]
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(spec)]  # fmt: skip
    subprocess.run(cmd, check=True)
    bins = bin_dir(dist)
    missing = [name for name in PROGRAMS if not program(bins, name).is_file()]
    if missing:
        raise RuntimeError(f"the bundle in {bins} lacks {', '.join(missing)}")
    return bins


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def check_version(bins: Path) -> str | None:
    """None when `ferry --version` prints this source tree's version, else what went wrong."""
    from ferrysync.daemon import __version__

    result = _run([str(program(bins, "ferry")), "--version"])
    if result.returncode != 0 or __version__ not in result.stdout:
        return f"ferry --version: exit {result.returncode}, {result.stdout!r}, {result.stderr[-2000:]}"
    return None


def check_daemon_version(bins: Path) -> str | None:
    """ferryd starts from the bundle and knows its version (its engine is imported only after arguments)."""
    from ferrysync.daemon import __version__

    result = _run([str(program(bins, "ferryd")), "--version"])
    if result.returncode != 0 or __version__ not in result.stdout:
        return f"ferryd --version: exit {result.returncode}, {result.stdout!r}, {result.stderr[-2000:]}"
    return None


def check_server_help(bins: Path) -> str | None:
    result = _run([str(program(bins, "ferry-server")), "--help"])
    if result.returncode != 0 or "serve" not in result.stdout:
        return f"ferry-server --help: exit {result.returncode}, stderr {result.stderr[-2000:]}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


@contextmanager
def running_server(bins: Path, data: Path) -> Iterator[str]:
    """The bundled ferry-server serving on a free loopback port; yields its URL and always stops it."""
    port = _free_port()
    log = data.parent / "server.log"
    cmd = [
        str(program(bins, "ferry-server")),
        "serve",
        "--data",
        str(data),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def check_server_serves(bins: Path) -> str | None:
    """A real server from the bundle: SQLAlchemy, uvicorn and the API all made it in."""
    with tempfile.TemporaryDirectory(prefix="ferry-bundle-") as tmp:
        data = Path(tmp) / "data"

        def healthy(url: str) -> bool:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        with running_server(bins, data) as url:
            if _poll(lambda: healthy(url), timeout=60):
                return None
        log = (Path(tmp) / "server.log").read_text()[-2000:]
        return f"ferry-server serve never answered {url}/v1/health: {log}"


def check_tray_backend(bins: Path, backend: str) -> str | None:
    """ferry-tray's bundle self-test imports pystray with this backend; X11 backends get a virtual display."""
    env = dict(os.environ, FERRY_BUNDLE_SELFTEST="tray-backend", PYSTRAY_BACKEND=backend)
    argv = [str(program(bins, "ferry-tray"))]
    if platform_key() == "linux" and not env.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            return "ferry-tray backend check needs a display or xvfb-run (Debian package: xvfb)"
        argv = ["xvfb-run", "--auto-servernum", *argv]
    result = _run(argv, env=env)
    expected = f"pystray._{backend}"
    if result.returncode != 0 or expected not in result.stdout:
        return f"ferry-tray with PYSTRAY_BACKEND={backend}: exit {result.returncode}, {result.stderr[-2000:]}"
    return None


def smoke(bins: Path) -> list[str]:
    """Every check against the built bundle; returns the failures (empty when healthy)."""
    checks: list[str | None] = [check_version(bins), check_daemon_version(bins), check_server_help(bins)]
    checks.append(check_server_serves(bins))
    checks += [check_tray_backend(bins, backend) for backend in TRAY_BACKENDS[platform_key()]]
    return [c for c in checks if c]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dist", type=Path, default=HERE.parent / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=HERE.parent / "build" / "pyinstaller", help="scratch folder")
    parser.add_argument("--no-smoke", action="store_true", help="build only")
    args = parser.parse_args(argv)
    if platform_key() not in SPECS:
        print(f"build_bundle: no bundle spec for {sys.platform}", file=sys.stderr)
        return 2
    try:
        bins = build(args.dist, args.work)
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"build_bundle: build failed: {exc}", file=sys.stderr)
        return 1
    print(f"built {bins}")
    if args.no_smoke:
        return 0
    failures = smoke(bins)
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print("smoke test passed" if not failures else f"{len(failures)} smoke check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
