"""The daemon's human-editable TOML config: typed dataclasses, strict validation, atomic writes.
 Users edit `config.toml` by hand, so every error names the file, the key and what is wrong, and an unknown
key is an error (a typo must not silently fall back to a default). Writes go to a temp file in the same
directory, are fsynced and then `os.replace`d, so a crash never leaves a half-written config.
"""

from __future__ import annotations

import socket
import tomllib
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

import tomli_w

from ferrysync.daemon.atomic import atomic_write
from ferrysync.daemon.paths import FerryPaths
from ferrysync.daemon.planner.selective import check_excluded_path, normalise_exclusions
from ferrysync.daemon.settings_schema import BY_NAME

CredentialsStore = Literal["keyring", "file"]


class ConfigError(Exception):
    """The config file cannot be used as is; the message says where and why."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + problem)


def overlaps(a: Path, b: Path) -> bool:
    """One folder is the other or inside it: two synced folders may not share a file."""
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def new_folder_id() -> str:
    """A new folder's id: random, short enough to read in logs and the marker file."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class FolderConfig:
    """One synced folder: `local` on this disk mirrors `remote` (server path prefix; '' = root)."""

    id: str
    local: Path
    remote: str = ""
    paused: bool = False
    # Selective sync (docs/sync-model.md, "Choosing what syncs"): remote subtrees this device does not hold, as
    # folder-relative POSIX paths. Kept here, not in the journal: config.toml is the one definition, so a restart,
    # a stale journal or a deleted one can neither forget an exclusion nor turn it into a deletion.
    excluded: tuple[str, ...] = ()
    auto_include_new: bool = True  # False: a new remote top-level folder is excluded instead of downloaded
    # End-to-end encrypted (docs/encryption.md): the server holds only ciphertext; the key is in the keyring.
    encrypted: bool = False


def _default(name: str) -> Any:
    """The field's default, read from the settings schema: the one place a setting's default is written."""
    setting = BY_NAME[name]
    if setting.default_factory is not None:
        return field(default_factory=setting.default_factory)
    return field(default=setting.default)


@dataclass(frozen=True)
class Settings:
    """The `[settings]` table of config.toml, typed for the code that reads it.

    Names, types, order, defaults and allowed values are declared in `settings_schema.SCHEMA` (see there for what
    each does); the fields are spelled out only so that type checkers see them, and a test holds them to the schema.
    """

    upload_limit_kbps: int = _default("upload_limit_kbps")
    download_limit_kbps: int = _default("download_limit_kbps")
    notifications: bool = _default("notifications")
    delete_threshold_count: int = _default("delete_threshold_count")
    delete_threshold_ratio: float = _default("delete_threshold_ratio")
    conflict_host_name: str = _default("conflict_host_name")
    tls_pin_sha256: str | None = _default("tls_pin_sha256")
    tls_ca_file: str | None = _default("tls_ca_file")
    embedded: bool = _default("embedded")
    credentials_store: CredentialsStore = _default("credentials_store")  # noqa: RUF009 (a dataclasses.field)
    quiet_period_s: float = _default("quiet_period_s")
    name_rules: str = _default("name_rules")
    trash: str = _default("trash")
    rescan_interval_s: float = _default("rescan_interval_s")
    log_level: str = _default("log_level")


@dataclass(frozen=True)
class Config:
    server_url: str = ""
    user: str = ""
    device_name: str = field(default_factory=socket.gethostname)
    folders: tuple[FolderConfig, ...] = ()
    settings: Settings = field(default_factory=Settings)

    def folder(self, folder_id: str) -> FolderConfig | None:
        return next((f for f in self.folders if f.id == folder_id), None)

    def with_folder(self, folder: FolderConfig) -> Config:
        """A copy with `folder` added, or replacing the folder with the same id."""
        rest = tuple(f for f in self.folders if f.id != folder.id)
        return replace(self, folders=(*rest, folder))

    def with_new_folder(self, local: Path, remote: str | None = None) -> tuple[Config, FolderConfig]:
        """A copy with a new folder syncing `local` (made absolute, symlinks resolved) with the server path `remote`
        (by default the folder's name at the server's root), and that folder, both as the next load will read them
        (the server path without its leading or trailing '/'; `parse_config` validates it when saved).

        Raises ValueError if `local` overlaps a folder already synced (one is the other or inside it): the parser
        refuses such a config, and two folders would fight over the same files. Compared as written and as resolved,
        so a symlink cannot hide an overlap."""
        root = local.expanduser().resolve()
        for f in self.folders:
            if overlaps(root, f.local) or overlaps(root, f.local.resolve()):
                raise ValueError(f"{root} overlaps the synced folder {f.local}")
        remote_path = (root.name if remote is None else remote).strip("/")
        folder = FolderConfig(id=new_folder_id(), local=root, remote=remote_path)
        return self.with_folder(folder), folder

    def without_folder(self, folder_id: str) -> Config:
        return replace(self, folders=tuple(f for f in self.folders if f.id != folder_id))


# -- parsing -------------------------------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
}


def _check(file: Path, key: str, value: Any, kind: str, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    ok_types = _TYPES[kind]
    # bool is an int subclass: `upload_limit_kbps = true` must be refused.
    if (isinstance(value, bool) and kind != "bool") or not isinstance(value, ok_types):
        raise ConfigError(file, key, f"expected {kind}, got {type(value).__name__} {value!r}")
    return float(cast(float, value)) if kind == "float" else value


def _unknown(file: Path, prefix: str, data: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigError(file, prefix + extra[0], f"unknown key (known: {', '.join(sorted(known))})")


def _parse_settings(file: Path, data: Any) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError(file, "settings", "must be a table ([settings])")
    known = {name: setting for name, setting in BY_NAME.items() if setting.in_config}
    _unknown(file, "settings.", data, set(known))
    values: dict[str, Any] = {}
    for key, value in data.items():
        try:
            values[key] = known[key].check(value)
        except ValueError as exc:
            raise ConfigError(file, f"settings.{key}", str(exc)) from None
    return Settings(**values)


def _parse_folder(file: Path, i: int, data: Any) -> FolderConfig:
    key = f"folders[{i}]"
    if not isinstance(data, dict):
        raise ConfigError(file, key, "must be a table ([[folders]])")
    _unknown(file, key + ".", data, {"id", "local", "remote", "paused", "excluded", "auto_include_new",
                                      "encrypted"})
    for required in ("id", "local"):
        if required not in data:
            raise ConfigError(file, f"{key}.{required}", "is required")
    fid = _check(file, key + ".id", data["id"], "str")
    if not fid or any(c in fid for c in "/\\\0") or fid.strip() != fid:
        raise ConfigError(file, key + ".id", f"{fid!r} is not a valid folder id")
    local = _check(file, key + ".local", data["local"], "str")
    local_path = Path(local).expanduser()
    if not local_path.is_absolute():
        raise ConfigError(file, key + ".local", f"{local!r} must be an absolute path")
    remote = _check(file, key + ".remote", data.get("remote", ""), "str").strip("/")
    if any(seg in ("", ".", "..") for seg in remote.split("/")) and remote:
        raise ConfigError(file, key + ".remote", f"{remote!r} is not a valid server path")
    paused = _check(file, key + ".paused", data.get("paused", False), "bool")
    raw = data.get("excluded", [])
    if not isinstance(raw, list):
        raise ConfigError(file, key + ".excluded", "must be an array of paths inside the folder")
    excluded: list[str] = []
    for j, item in enumerate(raw):
        try:
            excluded.append(check_excluded_path(_check(file, f"{key}.excluded[{j}]", item, "str")))
        except ValueError as exc:
            raise ConfigError(file, f"{key}.excluded[{j}]", str(exc)) from None
    auto = _check(file, key + ".auto_include_new", data.get("auto_include_new", True), "bool")
    encrypted = _check(file, key + ".encrypted", data.get("encrypted", False), "bool")
    return FolderConfig(id=fid, local=local_path, remote=remote, paused=paused,
                        excluded=normalise_exclusions(excluded), auto_include_new=auto, encrypted=encrypted)


def parse_config(data: dict[str, Any], file: Path | str = "<config>") -> Config:
    """Validate a decoded TOML document into a Config (pure: no I/O)."""
    f = Path(file)
    _unknown(f, "", data, {"server_url", "user", "device_name", "folders", "settings"})
    url = _check(f, "server_url", data.get("server_url", ""), "str").rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f, "server_url", f"{url!r} must start with http:// or https://")
    user = _check(f, "user", data.get("user", ""), "str")
    device = _check(f, "device_name", data.get("device_name", socket.gethostname()), "str")
    raw_folders = data.get("folders", [])
    if not isinstance(raw_folders, list):
        raise ConfigError(f, "folders", "must be an array of tables ([[folders]])")
    folders = tuple(_parse_folder(f, i, d) for i, d in enumerate(raw_folders))
    seen_ids: set[str] = set()
    seen_locals: list[Path] = []
    for i, folder in enumerate(folders):
        if folder.id in seen_ids:
            raise ConfigError(f, f"folders[{i}].id", f"duplicate folder id {folder.id!r}")
        for other in seen_locals:
            if overlaps(folder.local, other):
                raise ConfigError(f, f"folders[{i}].local", f"{folder.local} overlaps another folder ({other})")
        seen_ids.add(folder.id)
        seen_locals.append(folder.local)
    settings = _parse_settings(f, data.get("settings", {}))
    return Config(server_url=url, user=user, device_name=device, folders=folders, settings=settings)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The TOML document for `cfg` (None values are omitted: TOML has no null)."""
    settings = {fl.name: getattr(cfg.settings, fl.name) for fl in fields(Settings)}
    return {
        "server_url": cfg.server_url,
        "user": cfg.user,
        "device_name": cfg.device_name,
        "settings": {k: v for k, v in settings.items() if v is not None},
        "folders": [
            {"id": fo.id, "local": str(fo.local), "remote": fo.remote, "paused": fo.paused,
             "excluded": list(fo.excluded), "auto_include_new": fo.auto_include_new,
             **({"encrypted": True} if fo.encrypted else {})} for fo in cfg.folders
        ],
    }


# -- files ---------------------------------------------------------------------------------------------------


def load_config(paths: FerryPaths) -> Config:
    """Read and validate the config; a missing file is a default (empty) config, not an error."""
    file = paths.config_file
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from exc
    return parse_config(data, file)


def save_config(paths: FerryPaths, cfg: Config) -> None:
    """Validate and atomically write `cfg` (round-tripped through the parser: nothing invalid is saved)."""
    doc = config_to_dict(cfg)
    parse_config(doc, paths.config_file)
    atomic_write(paths.config_file, tomli_w.dumps(doc).encode("utf-8"))
