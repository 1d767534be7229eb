"""A real daemon against what an attacker or a careless umask does: private files, unsafe restore paths, control
connections held open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from devices import Device

from ferrysync.daemon.ipc.client import ControlClient
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.paths import FerryPaths, ferry_paths


def _paths(d: Device) -> FerryPaths:
    return ferry_paths({"FERRY_HOME": str(d.home)})


@pytest.mark.parametrize("method", ["restore", "versions", "trash_restore"])
def test_a_path_climbing_out_of_the_folder_is_refused_by_the_daemon(make_device: Callable[..., Device],
                                                                    method: str) -> None:
    a = make_device("laptop")
    (a.folder / "essay.txt").write_text("draft")
    a.wait_synced()
    sneaky = f"{a.folder}/../../etc/passwd"
    with ControlClient(_paths(a)) as c, pytest.raises(IpcError) as info:
        c.call(method, path=sneaky)
    # refused by the daemon's own path rule (before today: sent to the server, which answered 400 -> "failed")
    assert info.value.code == "bad_request"
    assert "'..'" in info.value.message
    assert str(a.folder) in info.value.message
    assert a.status()["state"] in ("idle", "syncing"), "the daemon carries on"
