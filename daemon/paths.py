"""Where one daemon keeps its config, state, logs, socket and credentials.

`FERRY_HOME=DIR` puts everything of one daemon under DIR, so several independent "devices" can share a machine
(tests, portable installs). Without it, platformdirs chooses per OS.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "ferry"
NEARLY_FULL_BYTES = 1024 * 1024  # less than this free: a journal cannot open (its -shm and -wal files) nor write


@dataclass(frozen=True)
class FerryPaths:
    config_dir: Path
    state_dir: Path
    log_dir: Path
    runtime_dir: Path
    data_dir: Path  # embedded local cloud, folder trash fall-back
    keyring_service: str  # credential namespace: distinct per FERRY_HOME

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def journal_file(self) -> Path:
        return self.state_dir / "journal.db"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "ferryd.log"

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "ferryd.sock"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "ferryd.lock"

    @property
    def ipc_secret_file(self) -> Path:
        """Windows only: the loopback TCP port + secret, readable by the user alone."""
        return self.runtime_dir / "ferryd.ipc.json"

    @property
    def private_dirs(self) -> tuple[Path, ...]:
        """Ferry's own directories: 0700, every file in them 0600 (config, token file, journal, logs, socket)."""
        return (self.config_dir, self.state_dir, self.log_dir, self.data_dir, self.runtime_dir)

    def full_disks(self) -> list[str]:
        """Which of Ferry's own directories sit on a disk too full for its journal and logs, in the user's words.

        Asked when the daemon could not start: a full disk also swallows its last words (its log and its error
        output are files on that disk), so the one who started it says this instead."""
        said: dict[int, str] = {}  # one line per disk
        for d in (self.state_dir, self.log_dir):
            try:
                disk, free = d.stat().st_dev, shutil.disk_usage(d).free
            except OSError:
                continue
            if free < NEARLY_FULL_BYTES and disk not in said:
                said[disk] = (f"the disk holding {d} is full ({free:,} bytes free): Ferry needs room there for its "
                              "journal and its log; free some space, then start Ferry again")
        return list(said.values())

    def ensure(self) -> FerryPaths:
        """Create the directories, 0700 whatever the umask (parents a FERRY_HOME needs get the umask's mode)."""
        for d in self.private_dirs:
            d.parent.mkdir(parents=True, exist_ok=True)
            d.mkdir(exist_ok=True, mode=0o700)
        if os.name == "posix":
            os.chmod(self.runtime_dir, 0o700)
        return self

    def tighten(self) -> list[str]:
        """Narrow what an older Ferry (or a umask of 022) left readable by others: each directory of
        `private_dirs` to 0700, the files directly in them to 0600 (the data dir's content is reached through
        the data dir only). Returns one line per change, for the log. POSIX only: on Windows the profile's ACLs
        keep these files private."""
        if os.name != "posix":
            return []
        changed: list[str] = []

        def narrow(p: Path, mode: int) -> None:
            try:
                st = os.lstat(p)
            except OSError:
                return
            if stat.S_ISLNK(st.st_mode) or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
                return  # not ours to change
            old = stat.S_IMODE(st.st_mode)
            if old & 0o077:
                new = old & mode & ~0o077
                os.chmod(p, new)
                changed.append(f"{p}: {old:04o} -> {new:04o}")

        for d in self.private_dirs:
            narrow(d, 0o700)
            if d == self.data_dir or not d.is_dir():
                continue
            for entry in sorted(d.iterdir()):
                narrow(entry, 0o700 if entry.is_dir() and not entry.is_symlink() else 0o600)
        return changed


def _short_runtime_dir(home: Path) -> Path:
    """A socket path must stay under ~100 bytes (sun_path); deep FERRY_HOMEs get one under the temp dir."""
    candidate = home / "run"
    if len(str(candidate / "ferryd.sock")) < 100:
        return candidate
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"ferry-{uid}-{digest}"


def ferry_paths(environ: dict[str, str] | None = None) -> FerryPaths:
    env = os.environ if environ is None else environ
    home = env.get("FERRY_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return FerryPaths(
            config_dir=root / "config",
            state_dir=root / "state",
            log_dir=root / "logs",
            runtime_dir=_short_runtime_dir(root),
            data_dir=root / "data",
            keyring_service=f"ferry:{root}",
        )
    if sys.platform == "win32" or (sys.platform.startswith("linux") and not env.get("XDG_RUNTIME_DIR")):
        # No per-user runtime dir (Windows, or a Linux session without XDG_RUNTIME_DIR): a private dir in the
        # user's state dir, rather than platformdirs' shared /tmp fallback.
        runtime = str(Path(platformdirs.user_state_dir(APP, appauthor=False)) / "run")
    else:
        runtime = platformdirs.user_runtime_dir(APP, appauthor=False)
    return FerryPaths(
        config_dir=Path(platformdirs.user_config_dir(APP, appauthor=False)),
        state_dir=Path(platformdirs.user_state_dir(APP, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP, appauthor=False)),
        runtime_dir=Path(runtime),
        data_dir=Path(platformdirs.user_data_dir(APP, appauthor=False)),
        keyring_service="ferry",
    )
