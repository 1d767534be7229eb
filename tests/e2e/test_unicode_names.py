"""NFD names on this disk (issue 11): synced under their NFC path, kept as the user's disk spells them.

Reproduces the report: a file whose name is in NFD (as macOS and some apps write them, e.g. "cafe\\u0301.txt") was
never uploaded, while docs/api.md says clients normalise to NFC; the file stayed on one device.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from devices import Device, tree
from util import wait_until

NFC, NFD = "caf\u00e9.txt", "cafe\u0301.txt"
DIR_NFC, DIR_NFD = "\u00e9t\u00e9", "e\u0301te\u0301"


def names(d: Device, sub: str = "") -> list[str]:
    return sorted(n for n in os.listdir(d.folder / sub) if n != ".ferry")


def test_an_nfd_name_reaches_the_other_device_under_nfc(pair: tuple[Device, Device]) -> None:
    a, b = pair
    (a.folder / NFD).write_text("written by a mac app")
    (a.folder / DIR_NFD).mkdir()
    (a.folder / DIR_NFD / NFD).write_bytes(b"deep \x00 bytes")
    wait_until(lambda: (b.folder / NFC).exists() and (b.folder / DIR_NFC / NFC).exists(), timeout=45,
               what="the NFD files on the other device\n" + a.log_tail())
    assert (b.folder / NFC).read_text() == "written by a mac app"
    assert (b.folder / DIR_NFC / NFC).read_bytes() == b"deep \x00 bytes"
    assert names(b) == sorted([NFC, DIR_NFC]), "the other device gets the NFC names the server holds"
    assert names(a) == sorted([NFD, DIR_NFD]), "the user's own files keep their names"
    a.wait_synced()
    assert a.status()["name_issues"] == 0
    assert a.json("errors")["errors"] == []

    # an edit on the other device comes back into the NFD file, not into a new NFC twin beside it
    (b.folder / DIR_NFC / NFC).write_bytes(b"edited on the desktop")
    wait_until(lambda: (a.folder / DIR_NFD / NFD).read_bytes() == b"edited on the desktop", timeout=45,
               what="the edit to land in the NFD file\n" + a.log_tail())
    assert names(a, DIR_NFD) == [NFD]
    # and a deletion there takes the NFD file away here
    (b.folder / NFC).unlink()
    wait_until(lambda: not (a.folder / NFD).exists(), timeout=45, what="the deletion to reach the NFD file")
    b.wait_synced()
    a.wait_synced()
    assert not [p for p in tree(a.folder) if "conflicted copy" in p]


def test_nfc_and_nfd_twins_on_one_disk_are_reported_and_never_overwrite_each_other(
        make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    (a.folder / NFC).write_text("the NFC one")
    a.wait_synced()
    (a.folder / NFD).write_text("the NFD twin")  # Linux allows both spellings in one folder
    wait_until(lambda: a.status()["name_issues"] == 1, timeout=30, what="the twin to be reported")
    issues = a.json("errors")["name_issues"]
    assert [i["path"] for i in issues] == [str(a.folder / NFD)]
    assert "Unicode form" in issues[0]["reason"]
    b = make_device("desktop")
    wait_until(lambda: (b.folder / NFC).exists(), timeout=45, what="the file on the other device")
    b.wait_synced()
    a.wait_synced()
    assert (a.folder / NFC).read_text() == "the NFC one"
    assert (a.folder / NFD).read_text() == "the NFD twin"
    assert (b.folder / NFC).read_text() == "the NFC one"
    assert names(b) == [NFC]
    # an edit from the other device goes to the entry that holds the path, the twin is left alone
    (b.folder / NFC).write_text("edited on the desktop")
    wait_until(lambda: (a.folder / NFC).read_text() == "edited on the desktop", timeout=45,
               what="the edit to arrive")
    assert (a.folder / NFD).read_text() == "the NFD twin"
    # once the twin is renamed, it syncs like any file
    os.rename(a.folder / NFD, a.folder / "renamed twin.txt")
    wait_until(lambda: (b.folder / "renamed twin.txt").exists() and a.status()["name_issues"] == 0, timeout=45,
               what="the renamed twin to sync and its report to go")
    assert (b.folder / "renamed twin.txt").read_text() == "the NFD twin"
