"""Login, tokens, logout and device revocation over HTTP, and the operator CLI for users and devices."""

from __future__ import annotations

import requests
from srvapi import Api, Server, ferry_server, new_user_name


def test_login_gives_a_working_token_and_wrong_credentials_are_401(shared_server: Server) -> None:
    name = new_user_name()
    shared_server.add_user(name, "s3cret")
    url = shared_server.url
    r = requests.post(f"{url}/v1/login", json={"user": name, "password": "s3cret", "device_name": "laptop"})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == name
    assert body["token"]
    assert body["device_id"]
    api = Api(url, body["token"])
    assert api.ok(api.get("/v1/account"))["user"] == name
    for user, password in [(name, "wrong"), ("nobody-" + name, "s3cret"), (name, "")]:
        r = requests.post(f"{url}/v1/login", json={"user": user, "password": password, "device_name": "x"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"


def test_missing_bad_and_revoked_tokens_are_401(alice: Api) -> None:
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YWxpY2U6cHc="},
                    {"Authorization": "Bearer "}]:
        r = requests.get(f"{alice.url}/v1/changes", headers=headers, timeout=10)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized"
    assert alice.ok(alice.post("/v1/logout")) == {}
    r = alice.get("/v1/changes")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_devices_are_listed_and_one_can_revoke_another(shared_server: Server) -> None:
    name = new_user_name()
    shared_server.add_user(name, "pw")
    laptop = Api(shared_server.url, shared_server.login(name, "pw", "laptop"))
    phone = Api(shared_server.url, shared_server.login(name, "pw", "phone"))
    devices = laptop.ok(laptop.get("/v1/devices"))["devices"]
    assert sorted(d["name"] for d in devices) == ["laptop", "phone"]
    assert all(d["created_at"].endswith("Z") for d in devices)
    phone_id = next(d["device_id"] for d in devices if d["name"] == "phone")
    assert laptop.ok(laptop.delete(f"/v1/devices/{phone_id}")) == {}
    assert phone.get("/v1/account").status_code == 401
    assert laptop.get("/v1/account").status_code == 200
    assert [d["name"] for d in laptop.ok(laptop.get("/v1/devices"))["devices"]] == ["laptop"]
    assert laptop.delete(f"/v1/devices/{phone_id}").json()["error"]["code"] == "not_found"


def test_a_user_cannot_revoke_another_users_device(alice: Api, bob: Api) -> None:
    bob_device = bob.ok(bob.get("/v1/devices"))["devices"][0]["device_id"]
    r = alice.delete(f"/v1/devices/{bob_device}")
    assert r.status_code == 404
    assert bob.get("/v1/account").status_code == 200


def test_cli_user_and_device_commands(shared_server: Server) -> None:
    data = str(shared_server.data)
    name = new_user_name()
    assert ferry_server("user", "add", name, "--password-stdin", "--data", data, stdin="pw1\n").returncode == 0
    again = ferry_server("user", "add", name, "--password-stdin", "--data", data, stdin="pw2\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    listed = ferry_server("user", "list", "--data", data)
    assert listed.returncode == 0
    assert name in listed.stdout.split()
    token = shared_server.login(name, "pw1", "desk")  # the trailing newline is not part of the password
    devices = ferry_server("device", "list", name, "--data", data)
    assert devices.returncode == 0
    assert "desk" in devices.stdout
    device_id = devices.stdout.split()[0]
    assert ferry_server("device", "revoke", device_id, "--data", data).returncode == 0
    assert Api(shared_server.url, token).get("/v1/account").status_code == 401
    assert ferry_server("device", "revoke", device_id, "--data", data).returncode == 1
    assert ferry_server("user", "remove", name, "--data", data).returncode == 0
    assert name not in ferry_server("user", "list", "--data", data).stdout.split()
    r = requests.post(f"{shared_server.url}/v1/login", json={"user": name, "password": "pw1", "device_name": "x"})
    assert r.status_code == 401
    assert ferry_server("user", "remove", name, "--data", data).returncode == 1
    assert ferry_server("device", "list", name, "--data", data).returncode == 1


def test_passwords_are_not_stored_in_clear(shared_server: Server) -> None:
    name = new_user_name()
    shared_server.add_user(name, "very-distinctive-password")
    token = shared_server.login(name, "very-distinctive-password")
    raw = b"".join(p.read_bytes() for p in shared_server.data.glob("ferry.db*"))
    assert b"very-distinctive-password" not in raw
    assert token.encode() not in raw
    assert b"$argon2id$" in raw
