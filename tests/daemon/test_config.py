"""Config: a human-edited TOML file that round-trips, is written atomically and fails with clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ferrysync.daemon.config import Config, ConfigError, FolderConfig, Settings, load_config, save_config
from ferrysync.daemon.paths import FerryPaths, ferry_paths


@pytest.fixture
def paths(tmp_path: Path) -> FerryPaths:
    return ferry_paths({"FERRY_HOME": str(tmp_path / "home")}).ensure()


def write(paths: FerryPaths, text: str) -> None:
    paths.config_file.write_text(text, encoding="utf-8")


def test_missing_file_is_an_empty_default_config(paths: FerryPaths) -> None:
    cfg = load_config(paths)
    assert cfg.folders == ()
    assert cfg.server_url == ""
    assert cfg.settings.delete_threshold_count == 50
    assert cfg.settings.delete_threshold_ratio == 0.5


def test_round_trip_and_file_is_private_and_atomic(paths: FerryPaths, tmp_path: Path) -> None:
    cfg = Config(
        server_url="https://ferry.example.org",
        user="alice",
        device_name="laptop",
        folders=(
            FolderConfig("docs", tmp_path / "Docs", "docs", paused=True),
            FolderConfig("pics", tmp_path / "Pictures"),
        ),
        settings=Settings(
            upload_limit_kbps=512, notifications=False, tls_pin_sha256="AB:" * 31 + "AB", conflict_host_name="laptop"
        ),
    )
    save_config(paths, cfg)
    loaded = load_config(paths)
    assert loaded.folders == cfg.folders
    assert loaded.settings.upload_limit_kbps == 512
    assert loaded.settings.notifications is False
    assert loaded.settings.tls_pin_sha256 == "ab" * 32  # normalised
    assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o600
    assert [p.name for p in paths.config_dir.iterdir()] == ["config.toml"]  # no temp file left behind
    # a human edit survives: the file is plain TOML with the documented keys
    text = paths.config_file.read_text()
    assert 'server_url = "https://ferry.example.org"' in text
    assert "[[folders]]" in text


def test_ferry_home_puts_config_under_it(tmp_path: Path) -> None:
    p = ferry_paths({"FERRY_HOME": str(tmp_path / "h")})
    assert p.config_file.is_relative_to(tmp_path / "h")
    save_config(p, Config(user="bob"))
    assert load_config(p).user == "bob"


def test_folder_helpers(tmp_path: Path) -> None:
    cfg = Config().with_folder(FolderConfig("a", tmp_path / "A"))
    cfg = cfg.with_folder(FolderConfig("a", tmp_path / "A", paused=True))
    assert len(cfg.folders) == 1
    folder = cfg.folder("a")
    assert folder is not None
    assert folder.paused
    assert cfg.without_folder("a").folders == ()


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("server_url = 'ftp://x'", "server_url", "http"),
        ("colour = 'blue'", "colour", "unknown key"),
        ("[settings]\nupload_limit_kbps = true", "settings.upload_limit_kbps", "expected int"),
        ("[settings]\nupload_limit_kbps = -1", "settings.upload_limit_kbps", ">= 0"),
        ("[settings]\ndelete_threshold_ratio = 2.0", "settings.delete_threshold_ratio", "(0, 1]"),
        ("[settings]\ntls_pin_sha256 = 'nothex'", "settings.tls_pin_sha256", "64 hex"),
        ("[settings]\ncredentials_store = 'paper'", "settings.credentials_store", "keyring"),
        ("[settings]\nnotifcations = false", "settings.notifcations", "unknown key"),
        ("[[folders]]\nlocal = '/tmp/x'", "folders[0].id", "required"),
        ("[[folders]]\nid = 'a'\nlocal = 'relative/dir'", "folders[0].local", "absolute"),
        ("[[folders]]\nid = 'a'\nlocal = '/x'\nremote = 'a/../b'", "folders[0].remote", "not a valid"),
        ("[[folders]]\nid = 'a'\nlocal = '/x'\n[[folders]]\nid = 'a'\nlocal = '/y'", "folders[1].id", "duplicate"),
        (
            "[[folders]]\nid = 'a'\nlocal = '/x'\n[[folders]]\nid = 'b'\nlocal = '/x/sub'",
            "folders[1].local",
            "overlaps",
        ),
        ("settings = 3", "settings", "table"),
    ],
)
def test_invalid_config_names_file_key_and_problem(paths: FerryPaths, text: str, key: str, words: str) -> None:
    write(paths, text)
    with pytest.raises(ConfigError) as err:
        load_config(paths)
    assert err.value.key == key
    assert words in err.value.problem
    assert str(paths.config_file) in str(err.value)
    assert key in str(err.value)


def test_a_new_folder_gets_an_id_and_may_not_overlap_another(paths: FerryPaths, tmp_path: Path) -> None:
    docs = tmp_path / "Docs"
    cfg, folder = Config().with_new_folder(docs)
    assert cfg.folders == (folder,)
    assert folder.local == docs.resolve()
    assert folder.remote == "Docs"
    assert len(folder.id) == 12
    assert folder.id != Config().with_new_folder(docs)[1].id
    cfg, other = cfg.with_new_folder(tmp_path / "Pictures", "/photos/2026/")
    assert other.remote == "photos/2026"
    assert len(cfg.folders) == 2
    for clash in (docs, docs / "sub", tmp_path, tmp_path / "Pictures" / ".." / "Docs"):
        with pytest.raises(ValueError, match="overlaps"):
            cfg.with_new_folder(clash)
    (tmp_path / "link").symlink_to(docs, target_is_directory=True)
    with pytest.raises(ValueError, match="overlaps"):  # a symlink does not hide the overlap
        cfg.with_new_folder(tmp_path / "link" / "sub")
    save_config(paths, cfg)  # what it builds is what the parser accepts
    assert load_config(paths).folders == cfg.folders


def test_broken_toml_and_binary_are_clear_errors(paths: FerryPaths) -> None:
    write(paths, "server_url = 'unterminated")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(paths)
    paths.config_file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(paths)


def test_saving_an_invalid_config_is_refused_and_keeps_the_old_file(paths: FerryPaths, tmp_path: Path) -> None:
    save_config(paths, Config(user="alice"))
    before = paths.config_file.read_bytes()
    bad = Config(folders=(FolderConfig("a", tmp_path / "x"), FolderConfig("a", tmp_path / "y")))
    with pytest.raises(ConfigError, match="duplicate"):
        save_config(paths, bad)
    assert paths.config_file.read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_is_a_clear_error(paths: FerryPaths) -> None:
    write(paths, "user = 'a'")
    paths.config_file.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(paths)


def test_logs_rotate_under_ferry_home_and_setup_is_idempotent(paths: FerryPaths) -> None:
    import logging
    import logging.handlers

    from ferrysync.daemon.logs import setup_logging

    logger = setup_logging(paths, "debug", stderr=False)
    setup_logging(paths, "INFO", stderr=False)  # a second call replaces, never stacks
    handlers = [h for h in logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert len(handlers) == 1
    assert handlers[0].maxBytes > 0
    assert handlers[0].backupCount > 0
    logging.getLogger("ferrysync.daemon.test").info("hello from the test")
    handlers[0].flush()
    assert "hello from the test" in paths.log_file.read_text()
    assert paths.log_file.is_relative_to(paths.log_dir)
    for h in handlers:
        logger.removeHandler(h)
        h.close()
