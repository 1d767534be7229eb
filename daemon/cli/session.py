"""Sign-in, quick set-up and starting the daemon: the CLI commands that work without a running daemon.

Imported lazily by the CLI (it pulls in requests and keyring).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from ferrysync.daemon.atomic import private_opener
from ferrysync.daemon.config import Config, load_config, save_config
from ferrysync.daemon.credentials import CredentialsError, KeyringUnavailable, open_store
from ferrysync.daemon.paths import FerryPaths, ferry_paths

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
START_TIMEOUT_S = 30.0


def _err(message: str) -> int:
    print(f"ferry: {message}", file=sys.stderr)
    return EXIT_ERROR


def _password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass("Password: ")


def _store_token(paths: FerryPaths, cfg: Config, user: str, url: str, token: str, *, plaintext: bool) -> Config:
    kind = "file" if plaintext else cfg.settings.credentials_store
    open_store(kind, paths).set_token(user, url, token)
    settings = dataclasses.replace(cfg.settings, credentials_store=kind)
    return dataclasses.replace(cfg, server_url=url, user=user, settings=settings)


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine only (localhost, 127.0.0.0/8, ::1): plain HTTP never leaves it."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: str) -> str | None:
    """Why `ferry login` refuses `url` without --insecure-http (the password and the device token would cross a
    network unencrypted), or None."""
    parts = urlsplit(url)
    if parts.scheme != "http" or is_loopback_host(parts.hostname or ""):
        return None
    return (f"refusing to log in to {url} over plain http://: your password and this device's token would cross "
            "the network unencrypted. Use the server's https:// address, or add --insecure-http if you trust "
            "every network between here and the server")


def login(args: argparse.Namespace) -> int:
    from ferrysync.daemon.remote import RemoteClient, RemoteError, Unauthorized

    url = (args.server or "").rstrip("/")
    if not url or not args.user:
        print("ferry login: give the server's URL and --user NAME", file=sys.stderr)
        return EXIT_USAGE
    refusal = plain_http_refusal(url)
    if refusal is not None and not getattr(args, "insecure_http", False):
        return _err(refusal)
    paths = ferry_paths().ensure()
    cfg = load_config(paths)
    device = getattr(args, "device_name", None) or cfg.device_name or socket.gethostname()
    verify: bool | str = getattr(args, "cafile", None) or True
    try:
        with RemoteClient(url, verify=verify, pin_sha256=getattr(args, "pin", None)) as client:
            result = client.login(args.user, _password(args), device)
    except Unauthorized:
        return _err("wrong user name or password")
    except (RemoteError, OSError, ValueError) as exc:
        return _err(f"could not log in to {url}: {exc}")
    try:
        cfg = _store_token(paths, cfg, result.user, url, result.token,
                           plaintext=bool(getattr(args, "plaintext_credentials", False)))
    except CredentialsError as exc:
        return _err(f"{exc}\n{_revoke_unstored(url, verify, getattr(args, 'pin', None), result.token)}")
    cafile = getattr(args, "cafile", None)
    settings = dataclasses.replace(cfg.settings, tls_pin_sha256=getattr(args, "pin", None),
                                   tls_ca_file=str(Path(cafile).resolve()) if cafile else None)
    cfg = dataclasses.replace(cfg, device_name=device, settings=settings)
    save_config(paths, cfg)
    print(f"Logged in to {url} as {result.user} (device {device!r}).")
    _tell_daemon(paths)
    return EXIT_OK


def _revoke_unstored(url: str, verify: bool | str, pin: str | None, token: str) -> str:
    """A token that could not be stored would leave an active device on the server that nobody can use or log
    out: revoke it at once (POST /v1/logout with that token) and say what became of it."""
    from ferrysync.daemon.remote import RemoteClient, RemoteError

    try:
        with RemoteClient(url, token, verify=verify, pin_sha256=pin) as client:
            client.logout()
    except (RemoteError, OSError) as exc:
        return (f"The device was signed in on the server but its token could not be kept here, and revoking it "
                f"failed ({exc}): remove it from the server's device list.")
    return "The device this login created on the server was revoked again; nothing was changed here."


def _tell_daemon(paths: FerryPaths) -> None:
    """A running daemon keeps its old token until told: tell it (else it would be refused until restarted)."""
    from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcError

    try:
        with ControlClient(paths, timeout=10) as c:
            answer = c.call("login_reload")
    except DaemonNotRunning:
        return  # it reads the new login when it starts
    except (IpcError, OSError) as exc:
        print(f"ferry: the running daemon did not take up the new login ({exc}); it will when it is next refused "
              "by the server, or restart it with `ferry stop` and `ferry start`", file=sys.stderr)
        return
    if answer.get("replaced"):
        print("The running daemon now syncs with this server: it lists it again and uploads what it lacks.")
    else:
        print("The running daemon now uses the new login.")


def logout(args: argparse.Namespace) -> int:
    from ferrysync.daemon.remote import RemoteClient, RemoteError

    paths = ferry_paths()
    cfg = load_config(paths)
    if not cfg.server_url:
        return _err("this device is not logged in")
    _stop_daemon(paths)
    store = open_store(cfg.settings.credentials_store, paths)
    token = store.get_token(cfg.user, cfg.server_url)
    if token:
        try:
            with RemoteClient(cfg.server_url, token) as client:
                client.logout()
        except (RemoteError, OSError) as exc:
            print(f"ferry: the server did not confirm the logout ({exc}); the token is forgotten here anyway")
        store.delete_token(cfg.user, cfg.server_url)
    print(f"Logged out of {cfg.server_url}.")
    return EXIT_OK


# -- the daemon's lifecycle ------------------------------------------------------------------------------------


RUNNING, STARTING, STOPPING, ABSENT = "running", "starting", "stopping", "absent"
STOP_WAIT_S = 60.0  # a daemon that is shutting down gets this long to let go (its engine stop is capped at 30 s)


def _daemon_state(paths: FerryPaths) -> str:
    """RUNNING; STARTING or STOPPING (it answers, but its engine is not running yet, or any more); or ABSENT."""
    from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcError

    try:
        with ControlClient(paths, timeout=2) as c:
            hello = c.call("hello")
    except (DaemonNotRunning, IpcError, OSError):
        return ABSENT
    if hello.get("stopping"):
        return STOPPING
    return STARTING if hello.get("starting") else RUNNING


def _daemon_answers(paths: FerryPaths) -> bool:
    return _daemon_state(paths) == RUNNING


def _wait_until_gone(paths: FerryPaths, timeout: float) -> bool:
    """Wait until no daemon here is shutting down: its lock goes only when its process has exited."""
    from ferrysync.daemon.lock import is_locked

    deadline = time.monotonic() + timeout
    while True:
        state = _daemon_state(paths)
        if state == RUNNING or (state == ABSENT and not is_locked(paths.lock_file)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _stop_daemon(paths: FerryPaths) -> None:
    from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, IpcError

    try:
        with ControlClient(paths, timeout=5) as c:
            c.call("stop")
    except (DaemonNotRunning, IpcError, OSError):
        return
    _wait_until_gone(paths, STOP_WAIT_S)


def _entry_point(name: str) -> list[str]:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return [str(candidate)]
    module = {"ferryd": "ferrysync.daemon.main", "ferry-tray": "ferrysync.tray.app"}[name]
    return [sys.executable, "-m", module]


def spawn_detached(name: str, paths: FerryPaths) -> subprocess.Popen[bytes]:
    log = open(paths.log_dir / f"{name}.out", "ab", opener=private_opener)  # noqa: SIM115 - handed to the child
    windows = os.name == "nt"
    # start_new_session is ignored on Windows; creationflags must be 0 elsewhere.
    flags = 0x00000008 | 0x00000200 if windows else 0  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    return subprocess.Popen(_entry_point(name), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            creationflags=flags, start_new_session=not windows)


def start(args: argparse.Namespace) -> int:
    paths = ferry_paths().ensure()
    if getattr(args, "foreground", False):
        from ferrysync.daemon.main import main as ferryd_main

        return ferryd_main([])
    # A daemon that is shutting down still answers for a while (up to its engine's 30 s stop), and one that is
    # starting holds its lock before it answers: taking the first for a running daemon left no daemon at all once
    # it had exited, and spawning beside either makes the newcomer exit on the lock. Wait for it instead.
    from ferrysync.daemon.lock import is_locked, read_pid

    deadline = time.monotonic() + STOP_WAIT_S
    said = False
    while True:
        state = _daemon_state(paths)
        if state == RUNNING:
            print("Ferry is already running.")
            return EXIT_OK
        if state == ABSENT and not is_locked(paths.lock_file):
            break
        if not said:
            pid = read_pid(paths.lock_file)
            what = {STOPPING: "is stopping", STARTING: "is starting"}.get(state, "is starting or stopping")
            print(f"The Ferry daemon{f' (pid {pid})' if pid else ''} {what}: waiting for it…", flush=True)
            said = True
        if time.monotonic() > deadline:
            pid = read_pid(paths.lock_file)
            who = f"another Ferry daemon (pid {pid})" if pid else "another Ferry daemon"
            doing = "stopping" if state == STOPPING else "starting (or hangs)"
            return _err(f"{who} is still {doing} after {STOP_WAIT_S:.0f} s; see {paths.log_file}")
        time.sleep(0.1)
    proc = spawn_detached("ferryd", paths)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _daemon_answers(paths):
            print("Ferry is running. `ferry status` shows what it is doing.")
            return EXIT_OK
        if proc.poll() is not None:
            return _err(_exit_story(paths, proc.returncode))
        time.sleep(0.1)
    return _err(f"the daemon did not answer within {START_TIMEOUT_S:.0f} s; see {paths.log_file}")


def _exit_story(paths: FerryPaths, code: int) -> str:
    """Why a daemon that was starting exited: its last words, and a full disk where one swallowed them."""
    try:
        tail = (paths.log_dir / "ferryd.out").read_text(errors="replace")[-1500:].strip()
    except OSError:
        tail = ""
    said = f"the daemon exited with {code}:\n{tail}" if tail else f"the daemon exited with {code}"
    return "\n".join([said, *paths.full_disks()])


# -- ferry up ---------------------------------------------------------------------------------------------------


def _setup_embedded(paths: FerryPaths, cfg: Config) -> Config:
    from ferrysync.daemon import embedded
    from ferrysync.daemon.remote import RemoteClient

    port = embedded.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = embedded.start_server(paths, port)
    try:
        user, password = embedded.create_account(paths)
        with RemoteClient(url) as client:
            result = client.login(user, password, cfg.device_name or socket.gethostname())
    finally:
        embedded.stop_server(proc)
    cfg = dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings, embedded=True))
    try:
        cfg = _store_token(paths, cfg, result.user, url, result.token, plaintext=False)
    except KeyringUnavailable:
        # The local cloud lives on this disk, for this user only: its token is kept beside its data in a file
        # only this user can read, and we say so.
        cfg = _store_token(paths, cfg, result.user, url, result.token, plaintext=True)
        print("No system keyring is available: the local cloud's device token is kept in a file only you can "
              f"read, under {paths.config_dir}.")
    print(f"Created a local cloud on {url} (data in {embedded.cloud_dir(paths)}).")
    return cfg


def up(args: argparse.Namespace) -> int:
    paths = ferry_paths().ensure()
    cfg = load_config(paths)
    if getattr(args, "server", None) and not cfg.server_url:
        print("ferry up: to use a server, first run `ferry login URL --user NAME`", file=sys.stderr)
        return EXIT_USAGE
    if not cfg.server_url:
        try:
            cfg = _setup_embedded(paths, cfg)
        except (RuntimeError, OSError, CredentialsError) as exc:
            return _err(str(exc))
        save_config(paths, cfg)
    folder = Path(args.folder or Path.home() / "Ferry").expanduser().resolve()
    if not any(Path(f.local).resolve() == folder for f in cfg.folders):
        if _daemon_answers(paths):
            from ferrysync.daemon.ipc.client import ControlClient

            with ControlClient(paths) as c:
                c.call("folder_add", local=str(folder))
        else:
            try:
                cfg, _ = cfg.with_new_folder(folder)
            except ValueError as exc:
                print(f"ferry up: {exc}; choose another folder with `ferry up FOLDER`", file=sys.stderr)
                return EXIT_USAGE
            folder.mkdir(parents=True, exist_ok=True)
            save_config(paths, cfg)
        print(f"Syncing {folder} with /{folder.name}.")
    code = start(argparse.Namespace(foreground=False))
    if code != EXIT_OK:
        return code
    if _has_display() and not getattr(args, "no_tray", False):
        spawn_detached("ferry-tray", paths)
        print("The Ferry icon is in your system tray.")
    print(f"Put files in {folder}: they sync to {cfg.server_url}.")
    return EXIT_OK


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
