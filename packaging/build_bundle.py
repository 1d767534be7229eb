"""Build Ferry's standalone bundle for this OS with PyInstaller, then smoke-test it.

    python packaging/build_bundle.py [--dist DIR] [--work DIR] [--no-smoke]

Linux and Windows get a one-folder bundle `DIST/ferry/` (ferry, ferryd, ferry-tray and ferry-server together);
macOS gets `DIST/Ferry.app`. The smoke test runs the bundled programs only, as a user would, in an environment
that points at no Python install: `ferry --version`, `ferryd --version`, `ferry-server --help`; every ferrysync
module (and the server's optional PostgreSQL/S3 back-ends) imported from the bundle; a real `ferry-server serve`
answering /v1/health; a file saved on one bundled device reaching a second one through the bundled server
(`ferry login`, `ferry folder add`, `ferryd`, `ferry wait`); and `ferry-tray` importing each of this OS's pystray
backends (under xvfb-run when there is no display). Exit status 0 means built and healthy.
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
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pyinstaller"))

from bundle_sources import MANIFEST, NATIVE, module_files, optional_modules  # noqa: E402 - shared with the spec

SPECS = {"linux": "ferry-linux.spec", "darwin": "ferry-macos.spec", "win32": "ferry-windows.spec"}
TRAY_BACKENDS = {"linux": ("gtk", "appindicator", "xorg"), "darwin": ("darwin",), "win32": ("win32",)}
PROGRAMS = ("ferry", "ferryd", "ferry-tray", "ferry-server")
# Variables through which a bundled program could lean on the Python install that built it, or on the caller's
# session (keyring choice, session bus, another device's FERRY_HOME): the smoke test runs without them.
LEAKY_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_KEYRING_BACKEND", "FERRY_HOME",
              "DBUS_SESSION_BUS_ADDRESS")  # fmt: skip
SYNC_USER, SYNC_PASSWORD, SYNC_REMOTE = "smoke", "smoke-password", "/Smoke"
SYNC_TIMEOUT_S = 60


class SmokeFailure(Exception):
    """A smoke check failed; the message says what and carries the relevant log tail."""


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


def bundle_env(**extra: str) -> dict[str, str]:
    """This environment minus LEAKY_VARS and this Python's scripts folder on PATH, plus `extra`."""
    scripts = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_VARS}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != scripts)
    env.update(extra)
    return env


def _run(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=env or bundle_env(), check=False
    )


def _tail(path: Path, limit: int = 3000) -> str:
    return path.read_text(errors="replace")[-limit:] if path.is_file() else f"({path.name}: none)"


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


def bundle_manifest(bins: Path) -> list[str]:
    """The ferrysync modules of the sources the bundle was built from, as the spec recorded them."""
    root = bins.parent if platform_key() == "darwin" else bins
    found = next(root.rglob(MANIFEST), None)
    return found.read_text(encoding="utf-8").split() if found else []


def _older_than(path: Path, when: float) -> bool:
    try:
        return path.stat().st_mtime < when
    except OSError:  # removed since it was listed
        return False


def check_imports(bins: Path) -> str | None:
    """Every ferrysync module the bundle was built from, the compiled accelerators and each optional back-end
    installed here import from the bundle.

    The CLI and the server load sub-commands and back-ends lazily; a module the analysis missed would fail only
    when a user reaches it, so the bundled `ferry` imports them all (FERRY_BUNDLE_SELFTEST=import). The list is
    the bundle's manifest, so a checkout edited after the build does not fail it; but every module of this
    checkout older than the bundle must be in that manifest, so a broken or empty manifest cannot pass either.
    """
    manifest = bundle_manifest(bins)
    built = program(bins, "ferry").stat().st_mtime
    unlisted = sorted(name for name, path in module_files(HERE.parent).items()
                      if name not in manifest and _older_than(path, built))  # fmt: skip
    if not manifest or unlisted:
        return f"the bundle's {MANIFEST} lacks modules of this checkout: {', '.join(unlisted) or 'all of them'}"
    env = bundle_env(FERRY_BUNDLE_SELFTEST="import")
    stdin = "\n".join([*manifest, *NATIVE, *optional_modules()])
    result = _run([str(program(bins, "ferry"))], env=env, timeout=120, stdin=stdin)
    if result.returncode != 0:
        return f"modules missing from the bundle (exit {result.returncode}):\n{result.stdout}{result.stderr[-2000:]}"
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


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


@contextmanager
def running_server(bins: Path, data: Path) -> Iterator[str]:
    """The bundled ferry-server serving `data` on a free loopback port, answering /v1/health; yields its URL.

    Raises SmokeFailure (with the server's log) if it exits or never answers; always stops it.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = data.parent / f"{data.name}-server.log"
    cmd = [str(program(bins, "ferry-server")), "serve", "--data", str(data),
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=bundle_env())
    try:

        def answers() -> bool:
            if proc.poll() is not None:
                raise SmokeFailure(f"ferry-server serve exited with {proc.returncode}: {_tail(log)}")
            return _healthy(url)

        if not _poll(answers, timeout=60):
            raise SmokeFailure(f"ferry-server serve never answered {url}/v1/health: {_tail(log)}")
        yield url
    finally:
        _stop(proc)


def check_server_serves(bins: Path) -> str | None:
    """A real server from the bundle: SQLAlchemy, Alembic's migrations, uvicorn and the API all made it in."""
    with tempfile.TemporaryDirectory(prefix="ferry-bundle-", ignore_cleanup_errors=True) as tmp:
        try:
            with running_server(bins, Path(tmp) / "data"):
                return None
        except SmokeFailure as exc:
            return str(exc)


class BundleDevice:
    """One desktop run from the bundle only: its own FERRY_HOME and folder, its token in a 0600 file.

    A bundle ships no test keyring backend and a headless machine has no Secret Service, so the device opts in
    to the file credential store (`credentials_store = "file"`) before it logs in.
    """

    def __init__(self, bins: Path, root: Path, name: str) -> None:
        self.bins, self.name = bins, name
        self.home, self.folder = root / f"home-{name}", root / f"folder-{name}"
        self.env = bundle_env(FERRY_HOME=str(self.home), DBUS_SESSION_BUS_ADDRESS="disabled:")
        self.proc: subprocess.Popen[bytes] | None = None

    def ferry(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        result = _run([str(program(self.bins, "ferry")), *args], env=self.env, timeout=timeout, stdin=stdin)
        if result.returncode != 0:
            raise SmokeFailure(
                f"{self.name}: ferry {' '.join(args)} exited {result.returncode}: {result.stdout[-1500:]}"
                f"{result.stderr[-1500:]}\n{self.logs()}"
            )
        return result.stdout

    def join(self, url: str) -> None:
        """Log in, start the bundled ferryd, and sync this device's folder with SYNC_REMOTE."""
        from ferrysync.daemon.paths import ferry_paths

        config = ferry_paths({"FERRY_HOME": str(self.home)}).config_file
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('[settings]\ncredentials_store = "file"\n', encoding="utf-8")
        self.ferry("login", url, "--user", SYNC_USER, "--password-stdin", "--device-name", self.name,
                   stdin=SYNC_PASSWORD + "\n")  # fmt: skip
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "ferryd.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(program(self.bins, "ferryd"))], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        if not _poll(self._answers, timeout=30):
            raise SmokeFailure(f"{self.name}: ferryd never answered `ferry status`\n{self.logs()}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ferry("folder", "add", str(self.folder), "--remote", SYNC_REMOTE)

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise SmokeFailure(f"{self.name}: ferryd exited with {self.proc.returncode}\n{self.logs()}")
        status = _run([str(program(self.bins, "ferry")), "status", "--json"], env=self.env, timeout=15)
        return status.returncode == 0

    def wait_synced(self) -> None:
        self.ferry("wait", "--timeout", str(SYNC_TIMEOUT_S), timeout=SYNC_TIMEOUT_S + 15)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def logs(self) -> str:
        return f"{self.name}'s ferryd output: {_tail(self.home / 'ferryd.out')}\n" + _tail(
            self.home / "logs" / "ferryd.log"
        )


def _sync_through_server(bins: Path, root: Path, stack: ExitStack) -> None:
    data = root / "server"
    added = _run([str(program(bins, "ferry-server")), "user", "add", SYNC_USER, "--password-stdin",
                  "--data", str(data)], stdin=SYNC_PASSWORD + "\n")  # fmt: skip
    if added.returncode != 0:
        raise SmokeFailure(f"ferry-server user add: exit {added.returncode}: {added.stderr[-2000:]}")
    url = stack.enter_context(running_server(bins, data))
    sender, receiver = BundleDevice(bins, root, "laptop"), BundleDevice(bins, root, "desktop")
    stack.callback(sender.stop)
    stack.callback(receiver.stop)
    sender.join(url)
    # Saved after the folder is added, so the watcher (inotify from the bundle) has to notice it; a few chunks'
    # worth of incompressible bytes takes the chunker and the block upload through more than one block.
    content = os.urandom(3 * 1024 * 1024)
    (sender.folder / "from the bundle.bin").write_bytes(content)
    sender.wait_synced()
    receiver.join(url)
    receiver.wait_synced()
    arrived = receiver.folder / "from the bundle.bin"
    if not _poll(lambda: arrived.is_file() and arrived.read_bytes() == content, timeout=30):
        raise SmokeFailure(f"the file never reached the second device intact\n{sender.logs()}\n{receiver.logs()}")


def check_sync(bins: Path) -> str | None:
    """A file saved on one bundled device reaches a second one through the bundled server.

    Everything a desktop runs — watcher, chunker, journal, planner, transfers, the IPC channel and the CLI —
    and the server's store run from the bundle, with no Python install in reach.
    """
    with tempfile.TemporaryDirectory(prefix="ferry-sync-", ignore_cleanup_errors=True) as tmp, ExitStack() as stack:
        try:
            _sync_through_server(bins, Path(tmp), stack)
        except (SmokeFailure, subprocess.TimeoutExpired) as exc:
            return f"sync through the bundle: {exc}"
    return None


def check_tray_backend(bins: Path, backend: str) -> str | None:
    """ferry-tray's bundle self-test imports pystray with this backend; X11 backends get a virtual display."""
    env = bundle_env(FERRY_BUNDLE_SELFTEST="tray-backend", PYSTRAY_BACKEND=backend)
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
    checks += [check_imports(bins), check_server_serves(bins), check_sync(bins)]
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
