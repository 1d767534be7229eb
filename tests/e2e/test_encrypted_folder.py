"""Encrypted folders end to end: real ferry-server, real daemons; the server must hold no plaintext.

One server and two devices (laptop creates the encrypted folder /Vault, desktop joins with the passphrase) are
shared by the module's tests; each test works in its own sub-folder so they stay independent of each other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from devices import Device, converge, tree
from util import ServerFactory, ServerProcess, wait_until

PASSPHRASE = "correct horse battery staple"
RECOVERY_RE = re.compile(r"\b([A-Z2-7]{4}(?:-[A-Z2-7]{1,4}){12})\b")


class Vault:
    """The module's shared world: one server, the devices made so far, the recovery key shown at creation."""

    def __init__(self, server: ServerProcess, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.devices: list[Device] = []
        self.recovery = ""

    def device(self, name: str) -> Device:
        d = Device(name=name, home=self.tmp / f"home-{name}", folder=self.tmp / f"folder-{name}",
                   keyring_dir=self.tmp / f"keyring-{name}")
        self.devices.append(d)
        d.login(self.server.url, "alice", "alice-pw")
        d.start()
        d.folder.mkdir(parents=True, exist_ok=True)
        return d

    def add(self, d: Device, secret: str, *, recovery: bool = False, check: bool = True) -> Any:
        flag = "--recovery-key-stdin" if recovery else "--passphrase-stdin"
        return d.ferry("folder", "add", str(d.folder), "--remote", "/Vault", "--encrypted", flag,
                       input=secret + "\n", check=check)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    factory = ServerFactory(tmp_path_factory)
    server = factory.make()
    server.add_user("alice", "alice-pw")
    v = Vault(server, tmp_path_factory.mktemp("e2ee"))
    laptop = v.device("laptop")
    out = v.add(laptop, PASSPHRASE).stdout
    found = RECOVERY_RE.search(out)
    assert found, f"no recovery key shown:\n{out}"
    v.recovery = found.group(1)
    assert "loses both" in out and "for good" in out  # said up front: nobody can recover the files
    desktop = v.device("desktop")
    v.add(desktop, PASSPHRASE)
    yield v
    for d in v.devices:
        d.stop()
    for s in factory.started:
        s.stop()


def _pair(v: Vault) -> tuple[Device, Device]:
    return v.devices[0], v.devices[1]


def _server_bytes(server: ServerProcess) -> bytes:
    """Every byte the server keeps on disk: its database (and WAL) and its block store, packed or loose."""
    out = bytearray()
    for dirpath, _, files in os.walk(server.data):
        for f in files:
            out += (Path(dirpath) / f).read_bytes()
    return bytes(out)


def test_server_holds_no_plaintext_name_or_content(vault: Vault) -> None:
    laptop, desktop = _pair(vault)
    base = laptop.folder / "plain"
    names = ["QuarterlyReportZebra", "MedicalHistoryOkapi", "photos-of-narwhal", "tiny-secret-quokka.txt",
             "big-secret-wombat.bin", "notes-pangolin.md"]
    (base / names[0] / names[1]).mkdir(parents=True)
    (base / names[2]).mkdir()
    samples = [b"tiny-content-marker-axolotl", b"notes-marker-capybara " * 40]
    (base / names[0] / names[1] / names[3]).write_bytes(samples[0])
    big = os.urandom(3 * 1024 * 1024) + b"big-content-marker-tapir" + os.urandom(1024 * 1024)
    samples.append(big[100_000:100_064])
    samples.append(b"big-content-marker-tapir")
    (base / names[2] / names[4]).write_bytes(big)
    (base / names[5]).write_bytes(samples[1])
    converge(laptop, desktop, timeout=60)
    laptop.wait_synced()
    desktop.wait_synced()
    stored = _server_bytes(vault.server)
    assert b".ferry-e2ee-keys" in stored and b"Vault" in stored  # the grep does see names in the database
    for name in ["plain", *names]:
        assert name.encode() not in stored, f"the name {name!r} is on the server in plaintext"
    for sample in samples:
        assert sample not in stored, f"content {sample[:30]!r} is on the server in plaintext"


def test_two_devices_converge_on_edits_moves_deletes_and_conflicts(vault: Vault) -> None:
    laptop, desktop = _pair(vault)
    a, b = laptop.folder / "conv", desktop.folder / "conv"
    (a / "docs").mkdir(parents=True)
    (a / "docs" / "one.txt").write_text("one\n")
    (a / "docs" / "two.txt").write_text("two\n")
    (a / "gone.txt").write_text("to be deleted\n")
    (a / ("x" * 150)).write_text("a long name still fits\n")
    converge(laptop, desktop)
    (b / "docs" / "one.txt").write_text("one, edited on the desktop\n")  # edit
    (b / "docs").rename(b / "papers")  # folder move
    (b / "gone.txt").unlink()  # delete
    converge(laptop, desktop)
    assert (a / "papers" / "one.txt").read_text() == "one, edited on the desktop\n"
    assert not (a / "gone.txt").exists()
    laptop.ferry("pause")
    (a / "papers" / "two.txt").write_text("laptop's version\n")
    (b / "papers" / "two.txt").write_text("desktop's version\n")
    desktop.wait_synced()
    laptop.ferry("resume")
    converge(laptop, desktop)
    files = tree(a / "papers")
    copies = [k for k in files if "conflicted copy" in k]
    assert len(copies) == 1, files
    assert {files["two.txt"], files[copies[0]]} == {b"laptop's version\n", b"desktop's version\n"}


def test_versions_and_restore_work_through_the_encryption(vault: Vault) -> None:
    laptop, desktop = _pair(vault)
    f = laptop.folder / "versions" / "draft.txt"
    f.parent.mkdir()
    f.write_text("first draft\n")
    converge(laptop, desktop)
    laptop.wait_synced()
    f.write_text("second draft\n")
    laptop.wait_synced()
    revs = laptop.json("versions", str(f))["revisions"]
    assert len(revs) >= 2 and {r["size"] for r in revs} == {len("first draft\n"), len("second draft\n")}
    laptop.ferry("restore", str(f), "--rev", str(min(r["rev"] for r in revs)))
    wait_until(lambda: (desktop.folder / "versions" / "draft.txt").read_text() == "first draft\n", timeout=30,
               what="the restored version on the other device")
