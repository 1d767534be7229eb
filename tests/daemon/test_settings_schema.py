"""One declaration of the settings (daemon/settings_schema.py) drives config.toml, the control channel, the CLI and
the docs. These tests derive their cases from the declaration, so a setting added or narrowed there is checked
everywhere without editing a list here; and they change a declaration on the fly to prove nothing kept a copy.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import pytest

from ferrysync.daemon import settings_schema as schema
from ferrysync.daemon.cli import main as ferry
from ferrysync.daemon.config import ConfigError, Settings, load_config, parse_config
from ferrysync.daemon.ipc.protocol import (
    SETTINGS,
    RejectedRequest,
    check_setting,
    encode_request,
    parse_request,
    setting_from_text,
)
from ferrysync.daemon.paths import FerryPaths, ferry_paths
from ferrysync.daemon.planner.batch import RATIO_MIN_FILES
from ferrysync.daemon.settings_schema import BY_NAME, LIVE, SCHEMA, Setting

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def paths(tmp_path: Path) -> FerryPaths:
    return ferry_paths({"FERRY_HOME": str(tmp_path / "home")}).ensure()


def _bad_values(s: Setting) -> list[object]:
    """Values of the right JSON type that the declaration forbids (none for a free-form string or a bool)."""
    bad: list[object] = []
    if s.choices:
        bad.append("not-" + s.choices[0])
    if s.minimum is not None:
        bad.append(s.type(s.minimum) if s.above_minimum else s.type(s.minimum - 1))
    if s.maximum is not None:
        bad.append(s.type(s.maximum + 1))
    if s.max_len is not None:
        bad.append("x" * (s.max_len + 1))
    return bad


def _wrong_type(s: Setting) -> object:
    return "text" if s.type is not str else 12


CASES = [(s, v) for s in SCHEMA for v in [*_bad_values(s), _wrong_type(s)]]
IDS = [f"{s.name}={v!r}"[:40] for s, v in CASES]


def test_settings_dataclass_is_the_declaration() -> None:
    """`Settings` is typed by hand (so mypy sees the fields) but must list the declared settings, in order, with
    the declared defaults and types: a setting declared but not a field would crash on the first file naming it."""
    hints = typing.get_type_hints(Settings)
    assert [f.name for f in dataclasses.fields(Settings)] == [s.name for s in SCHEMA if s.in_config]
    fresh = Settings()
    for s in SCHEMA:
        if not s.in_config:
            continue
        assert getattr(fresh, s.name) == s.default_value(), s.name
        assert s.type in typing.get_args(hints[s.name]) or hints[s.name] is s.type or s.choices, s.name


def test_the_ratio_help_states_the_planners_floor() -> None:
    """The floor is the planner's constant, not a setting; the one-line help (and so the docs table) quotes it."""
    assert f"at least {RATIO_MIN_FILES} files" in BY_NAME["delete_threshold_ratio"].help


def test_every_declared_default_passes_its_own_checks() -> None:
    for s in SCHEMA:
        assert s.check(s.default_value()) == s.default_value(), s.name
    assert parse_config({}).settings == Settings()


@pytest.mark.parametrize(("setting", "value"), CASES, ids=IDS)
def test_a_forbidden_value_is_refused_by_the_file_and_the_channel_alike(
    paths: FerryPaths, setting: Setting, value: object
) -> None:
    if setting.in_config:
        paths.config_file.write_text(f"[settings]\n{setting.name} = {json.dumps(value)}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(paths)
        assert err.value.key == f"settings.{setting.name}"
        assert str(paths.config_file) in str(err.value)
        assert setting.name in str(err.value)
    if setting.live:
        bad = parse_request(encode_request(1, "settings_set", {"key": setting.name, "value": value}).rstrip())
        assert isinstance(bad, RejectedRequest)
        assert bad.code == "bad_request"
        assert setting.name in bad.message
        if setting.type is str and not isinstance(value, str):
            return  # typed on a command line, 12 is a fine host name
        with pytest.raises(ValueError, match=setting.name):
            setting_from_text(setting.name, value if isinstance(value, str) else json.dumps(value))


def test_the_channel_offers_exactly_the_live_settings() -> None:
    assert set(SETTINGS) == {s.name for s in SCHEMA if s.live}
    for s in SCHEMA:
        if s.live:
            assert check_setting(s.name, s.default_value()) == s.default_value()
    with pytest.raises(ValueError, match=r"config\.toml"):  # known, but only read at start-up: say what to do
        check_setting("log_level", "DEBUG")
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        check_setting("colour", "red")


def test_the_ranges_the_file_and_the_channel_once_disagreed_on() -> None:
    """A ratio of 0 passed settings_set and then failed to save; a count of 0 loaded from the file but was refused
    over the channel. Both now meet one rule."""
    for key, value in (("delete_threshold_ratio", 0), ("delete_threshold_count", 0)):
        with pytest.raises(ValueError, match=key):
            check_setting(key, value)
        with pytest.raises(ConfigError, match=key):
            parse_config({"settings": {key: value}})


def test_narrowing_a_declaration_narrows_every_consumer(
    monkeypatch: pytest.MonkeyPatch, paths: FerryPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    narrowed = dataclasses.replace(BY_NAME["upload_limit_kbps"], maximum=100)
    monkeypatch.setitem(BY_NAME, "upload_limit_kbps", narrowed)
    monkeypatch.setitem(LIVE, "upload_limit_kbps", narrowed)
    with pytest.raises(ConfigError, match=r"upload_limit_kbps: must be in \[0, 100\]"):
        parse_config({"settings": {"upload_limit_kbps": 101}}, paths.config_file)
    assert parse_config({"settings": {"upload_limit_kbps": 100}}).settings.upload_limit_kbps == 100
    with pytest.raises(ValueError, match=r"must be in \[0, 100\]"):
        check_setting("upload_limit_kbps", 101)
    assert ferry(["settings", "set", "upload_limit_kbps", "101"]) == 2  # refused before any daemon is asked
    assert "must be in [0, 100]" in capsys.readouterr().err
    assert ferry(["settings", "list"]) == 0
    assert re.search(r"upload_limit_kbps +int in \[0, 100\]", capsys.readouterr().out)


def test_ferry_settings_lists_every_declared_setting_without_a_daemon(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FERRY_HOME", str(tmp_path / "nobody-home"))
    assert ferry(["settings", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for s in SCHEMA:
        row = next(line for line in lines if line.startswith(s.name + " "))
        assert s.type_text() in row
        assert s.default_text() in row
        assert s.help in row
    assert ferry(["settings", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["settings"]
    assert [d["name"] for d in listed] == [s.name for s in SCHEMA]
    assert {d["name"]: d["live"] for d in listed} == {s.name: s.live for s in SCHEMA}


def test_ferry_settings_set_help_names_every_live_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert ferry(["settings", "set", "--help"]) == 0
    out = capsys.readouterr().out
    for s in SCHEMA:
        assert (s.name in out) == s.live, s.name


def test_ferry_settings_set_explains_a_setting_that_only_the_file_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert ferry(["settings", "set", "log_level", "DEBUG"]) == 2
    assert "config.toml" in capsys.readouterr().err


def test_the_user_guide_table_is_the_declaration() -> None:
    """Edit daemon/settings_schema.py, then paste `settings_schema.markdown_table()` into the guide."""
    text = (DOCS / "user-guide.md").read_text(encoding="utf-8")
    start, end = "<!-- settings table: generated", "<!-- end of settings table -->"
    assert start in text
    assert end in text
    block = text[text.index(start) : text.index(end)].splitlines()[1:]
    table = [line for line in block if line.startswith("|")]
    assert table == schema.markdown_table(), "\n".join(["docs/user-guide.md should read:", *schema.markdown_table()])


def test_the_other_docs_name_only_declared_settings() -> None:
    """ipc.md and cli.md point at the table rather than copy it; any setting they still mention must exist."""
    for page in ("ipc.md", "cli.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        named = set(re.findall(r"ferry settings set ([a-z_]+)", text))
        assert named <= set(LIVE), (page, named - set(LIVE))

