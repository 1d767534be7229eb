"""Encrypted folders end to end: real ferry-server, real daemons; the server must hold no plaintext.

One server and two devices (laptop creates the encrypted folder /Vault, desktop joins with the passphrase) are
shared by the module's tests; each test works in its own sub-folder so they stay independent of each other.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from functools import partial
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

    def outsider(self) -> Device:
        """A running device that syncs no folder (one daemon start shared by the tests that need one)."""
        for d in self.devices:
            if d.name == "outsider":
                return d
        return self.device("outsider")

    def add(self, d: Device, secret: str, *, recovery: bool = False, check: bool = True) -> Any:
        flag = "--recovery-key-stdin" if recovery else "--passphrase-stdin"
        return d.ferry("folder", "add", str(d.folder), "--remote", "/Vault", "--encrypted", flag,
                       input=secret + "\n", check=check)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    factory = ServerFactory(tmp_path_factory)
    v: Vault | None = None
    try:
        server = factory.make()
        server.add_user("alice", "alice-pw")
        v = Vault(server, tmp_path_factory.mktemp("e2ee"))
        laptop = v.device("laptop")
        out = v.add(laptop, PASSPHRASE).stdout
        found = RECOVERY_RE.search(out)
        assert found, f"no recovery key shown:\n{out}"
        v.recovery = found.group(1)
        assert "loses both" in out
        assert "for good" in out
        desktop = v.device("desktop")
        v.add(desktop, PASSPHRASE)
        yield v
    finally:  # also when the set-up fails half-way: no daemon or server outlives the module
        for d in v.devices if v is not None else []:
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
    assert b".ferry-e2ee-keys" in stored
    assert b"Vault" in stored
    for name in ["plain", *names]:
        assert name.encode() not in stored, f"the name {name!r} is on the server in plaintext"
    for sample in samples:
        assert sample not in stored, f"content {sample[:30]!r} is on the server in plaintext"


def test_ferry_decrypt_reads_a_copy_of_the_server_data(vault: Vault, tmp_path: Path) -> None:
    """With nothing but a copy of the server's data directory and the passphrase (docs/encryption.md)."""
    laptop, _ = _pair(vault)
    (laptop.folder / "dec" / "sub").mkdir(parents=True)
    (laptop.folder / "dec" / "sub" / "a.txt").write_text("decrypt me\n")
    (laptop.folder / "dec" / "b.bin").write_bytes(os.urandom(700_000))
    laptop.wait_synced()
    copy = tmp_path / "server-copy"
    shutil.copytree(vault.server.data, copy)
    out = tmp_path / "out"
    args = ("decrypt", "--data", str(copy), "--user", "alice", "--remote", "/Vault", "--out", str(out))
    wrong = laptop.ferry(*args, "--passphrase-stdin", input="nope\n", check=False)
    assert wrong.returncode != 0
    assert "wrong passphrase" in wrong.stderr.lower()
    assert not out.exists() or not any(out.iterdir())
    laptop.ferry(*args, "--passphrase-stdin", input=PASSPHRASE + "\n")
    assert tree(out / "dec") == tree(laptop.folder / "dec")
    assert (out / "dec" / "b.bin").stat().st_mtime_ns == (laptop.folder / "dec" / "b.bin").stat().st_mtime_ns


def test_two_devices_converge_on_edits_moves_deletes_and_conflicts(vault: Vault) -> None:
    laptop, desktop = _pair(vault)
    a, b = laptop.folder / "conv", desktop.folder / "conv"
    (a / "docs").mkdir(parents=True)
    (a / "docs" / "one.txt").write_text("one\n")
    (a / "docs" / "two.txt").write_text("two\n")
    (a / "gone.txt").write_text("to be deleted\n")
    (a / ("x" * 150)).write_text("a long name still fits\n")
    converge(laptop, desktop)
    desktop.wait_synced()  # its downloads recorded: the edit below is an edit, not a rival first version
    (b / "docs" / "one.txt").write_text("one, edited on the desktop\n")  # edit
    (b / "docs").rename(b / "papers")  # folder move
    (b / "gone.txt").unlink()  # delete
    wait_until(lambda: tree(a) == tree(b) and tree(a).get("papers/one.txt") == b"one, edited on the desktop\n",
               timeout=30, what="the desktop's edit, move and delete on the laptop\n" + str(tree(a)) + "\n"
               + str(tree(b)) + "\n" + laptop.log_tail() + desktop.log_tail())
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
    assert len(revs) >= 2
    assert {r["size"] for r in revs} == {len("first draft\n"), len("second draft\n")}
    laptop.ferry("restore", str(f), "--rev", str(min(r["rev"] for r in revs)))
    wait_until(lambda: (desktop.folder / "versions" / "draft.txt").read_text() == "first draft\n", timeout=30,
               what="the restored version on the other device")


def _config(d: Device) -> str:
    return (d.home / "config" / "config.toml").read_text() if (d.home / "config" / "config.toml").exists() else ""


def _cursor(server: ServerProcess) -> tuple[int, int]:
    """(the server's change sequence, the bytes of blocks it holds for alice)."""
    token = server.login("alice", "alice-pw", "probe")
    headers = {"Authorization": f"Bearer {token}"}
    cursor = 0
    while True:
        r = requests.get(f"{server.url}/v1/changes", params={"cursor": cursor}, headers=headers, timeout=10)
        r.raise_for_status()
        cursor = int(r.json()["cursor"])
        if not r.json()["has_more"]:
            break
    account = requests.get(f"{server.url}/v1/account", headers=headers, timeout=10).json()
    return cursor, int(account["blocks_bytes"])


def test_wrong_passphrase_is_a_clear_error_and_writes_nothing(vault: Vault) -> None:
    third = vault.outsider()
    (third.folder / "mine.txt").write_text("this device's own file\n")
    before_cursor = _cursor(vault.server)
    before_config = _config(third)
    result = vault.add(third, "not the passphrase", check=False)
    assert result.returncode != 0
    assert "wrong passphrase" in (result.stderr + result.stdout).lower()
    plain = third.ferry("folder", "add", str(third.folder), "--remote", "/Vault", check=False)
    assert plain.returncode != 0  # not as a plain folder either: it would sync ciphertext as files
    assert "--encrypted" in plain.stderr
    assert third.json("folder", "list")["folders"] == []
    assert _config(third) == before_config
    assert tree(third.folder) == {"mine.txt": b"this device's own file\n"}
    assert not (third.folder / ".ferry").exists()
    assert _cursor(vault.server) == before_cursor  # nothing was written on the server either (the probe login
    # is a device, not a change of the file table)


def test_passphrase_change_rewraps_and_recovery_key_joins(vault: Vault) -> None:
    laptop, desktop = _pair(vault)
    (laptop.folder / "rekey").mkdir()
    (laptop.folder / "rekey" / "kept.txt").write_text("still readable after the passphrase changes\n")
    converge(laptop, desktop)
    laptop.wait_synced()
    before = _cursor(vault.server)
    laptop.ferry("folder", "passphrase", str(laptop.folder), "--stdin", input=f"{PASSPHRASE}\nnew passphrase 42\n")
    after = _cursor(vault.server)
    assert after[0] == before[0] + 1  # one change: the key file
    assert after[1] - before[1] < 2048  # its new block is all that was stored: no data was re-encrypted
    result = vault.add(vault.outsider(), PASSPHRASE, check=False)
    assert result.returncode != 0
    assert "wrong passphrase" in result.stderr.lower()
    joiner = vault.device("new-pass")
    vault.add(joiner, "new passphrase 42")
    rescued = vault.device("rescued")
    vault.add(rescued, vault.recovery.lower(), recovery=True)  # case and dashes do not matter
    converge(laptop, joiner, rescued, timeout=60)
    assert (rescued.folder / "rekey" / "kept.txt").read_text() == "still readable after the passphrase changes\n"
    (rescued.folder / "rekey" / "from-rescued.txt").write_text("written by the recovered device\n")
    converge(laptop, desktop, rescued, timeout=60)
    for d in (joiner, rescued):
        d.stop()


def _api(server: ServerProcess) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.login('alice', 'alice-pw', 'tamperer')}"
    return s


def _entries(api: requests.Session, url: str) -> list[dict[str, Any]]:
    cursor, out = 0, []
    while True:
        page = api.get(f"{url}/v1/changes", params={"cursor": cursor}, timeout=10).json()
        out += page["entries"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return out


def _refused_twice(log: Path) -> bool:
    return log.read_text(errors="replace").count("refused the server's entry") >= 2


def _log(d: Device) -> str:
    return (d.home / "logs" / "ferryd.log").read_text(errors="replace")


def test_tampered_block_record_or_name_is_refused(vault: Vault) -> None:
    """A malicious server (simulated through the API) forges a name, a file record and a block: the devices
    refuse each, write no corrupted file and keep what they had."""
    import blake3

    laptop, desktop = _pair(vault)
    (laptop.folder / "tamper").mkdir()
    (laptop.folder / "tamper" / "precious.txt").write_bytes(b"precious content\n" * 100)
    converge(laptop, desktop)
    laptop.wait_synced()
    desktop.wait_synced()
    url = vault.server.url
    api = _api(vault.server)
    files = [e for e in _entries(api, url) if e["kind"] == "file" and not e.get("deleted")]
    precious = max(files, key=lambda e: e["seq"])  # the newest file: precious.txt (the devices are idle)
    assert len(precious["blocks"]) == 2  # its file record, then its one chunk
    junk = os.urandom(2000)
    junk_id = blake3.blake3(junk).hexdigest()
    assert api.put(f"{url}/v1/blocks/{junk_id}", data=junk, timeout=10).ok
    sizes = {b: len(api.get(f"{url}/v1/blocks/{b}", timeout=10).content) for b in [*precious["blocks"], junk_id]}

    def put(path: str, blocks: list[str], base_rev: int | None) -> None:
        op = {"op": "put", "path": path, "blocks": blocks, "size": sum(sizes[b] for b in blocks), "mtime_ns": 0,
              "executable": False, "base_rev": base_rev}
        r = api.post(f"{url}/v1/commit", json={"ops": [op]}, timeout=10).json()
        assert r["results"][0]["ok"], r

    before = {d.name: tree(d.folder) for d in (laptop, desktop)}
    parent = precious["path"].rsplit("/", 1)[0]
    put(parent + "/" + "A" * 43, [junk_id], None)  # a file record that is not this folder's
    put(parent + "/" + "B" * 43, precious["blocks"], None)  # real record and block under a forged name
    put(precious["path"], [precious["blocks"][0], junk_id], precious["rev"])  # its chunk swapped for junk
    for d in (laptop, desktop):
        wait_until(partial(_refused_twice, d.home / "logs" / "ferryd.log"), timeout=30,
                   what=f"{d.name} to refuse the forged record and name")
        d.wait_synced(timeout=30)
        assert tree(d.folder) == before[d.name], f"{d.name} wrote something from tampered data"
    # A device that joins now must download precious.txt, meets the junk block and writes no file from it.
    fresh = vault.device("fresh")
    vault.add(fresh, "new passphrase 42")
    wait_until(lambda: (fresh.folder / "conv").is_dir() and "tampered" in _log(fresh)
               and "precious.txt" in fresh.ferry("errors", "--json", check=False).stdout, timeout=60,
               what="the fresh device to refuse the tampered block")
    assert not (fresh.folder / "tamper" / "precious.txt").exists()
    fresh.stop()
