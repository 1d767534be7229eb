"""Device tokens that expire (a short lifetime configured for the test), renewed silently by a running daemon,
and the device list that shows each device's last use so a lost one can be revoked from the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import requests
from devices import Device
from srvapi import Api
from util import ServerFactory, ServerProcess, wait_until

TTL_S = 9.0  # renewal is due after two thirds of it: every 6 s


def _expiry(d: Device) -> datetime:
    me = next(x for x in d.json("devices")["devices"] if x["current"])
    return datetime.fromisoformat(me["expires_at"].replace("Z", "+00:00"))


def _server_has(api: Api, path: str) -> bool:
    entries = api.ok(api.get("/v1/changes", params={"cursor": 0}))["entries"]
    return any(e["path"] == path and not e["deleted"] for e in entries)


def test_a_running_daemon_renews_its_token_before_it_expires_and_keeps_syncing(
        server_factory: ServerFactory, tmp_path_factory: object) -> None:
    server = server_factory.make(["--token-ttl-days", str(TTL_S / 86400)])
    server.add_user("alice", "alice-pw")
    observer = Api(server.url, server.login("alice", "alice-pw", "observer"))  # never renewed
    d = Device(name="laptop", home=server.data.parent / "home-laptop", folder=server.data.parent / "folder-laptop",
               keyring_dir=server.data.parent / "keyring-laptop")
    try:
        d.login(server.url, "alice", "alice-pw")
        first = _expiry(d)
        d.start()
        d.add_folder("/Shared")
        # Renewed (a later expiry, read with the token the daemon stored), and again, past the first token's end.
        def renewed() -> datetime | None:
            e = _expiry(d)
            return e if e > first else None

        second = wait_until(renewed, timeout=TTL_S + 15, interval=0.5, what="the daemon to renew its token")
        wait_until(lambda: _expiry(d) > second, timeout=TTL_S + 15, interval=0.5, what="a second renewal")
        assert time.time() > first.timestamp()  # the token it logged in with has expired by now
        (d.folder / "after-expiry.txt").write_text("still syncing")
        d.wait_synced(timeout=30)
        assert d.status()["folders"][0]["state"] != "error", d.status()
        fresh = Api(server.url, server.login("alice", "alice-pw", "checker"))
        assert _server_has(fresh, "Shared/after-expiry.txt")
        assert "device token renewed" in d.log_tail()
    finally:
        d.stop()
    # A token nobody renews stops working, and says why.
    refused = observer.get("/v1/account")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_expired"


def test_the_device_list_shows_last_use_and_a_lost_laptop_is_revoked_from_the_cli(
        server: ServerProcess, make_device: Callable[..., Device]) -> None:
    desk = make_device("desk", start=False)
    lost = Api(server.url, server.login("alice", "alice-pw", "lost-laptop"))
    assert lost.get("/v1/account").status_code == 200
    text = desk.ferry("devices").stdout
    assert "desk (this device)" in text
    assert "lost-laptop" in text
    assert "LAST USED" in text
    listed = desk.json("devices")["devices"]
    lost_id = next(x["device_id"] for x in listed if x["name"] == "lost-laptop")
    assert all(x["last_seen"] for x in listed)
    assert all(x["expires_at"] is None for x in listed)  # the default: tokens do not expire
    out = desk.ferry("devices", "revoke", lost_id).stdout
    assert "Revoked lost-laptop" in out
    assert lost.get("/v1/account").status_code == 401
    assert [x["name"] for x in desk.json("devices")["devices"]] == ["desk"]
    again = desk.ferry("devices", "revoke", lost_id, check=False)
    assert again.returncode == 1
    assert "no active device" in again.stderr
    assert requests.get(f"{server.url}/v1/health", timeout=5).ok
