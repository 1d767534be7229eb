"""Property-based fuzzing of the served OpenAPI document with schemathesis: no input may cause a 5xx.

Runs schemathesis's CLI (the installed 4.x) against a real server with a valid bearer token, time-boxed.
Left out: logout and device deletion (they would revoke the token mid-run) and the long-poll (it waits by design).
"""

from __future__ import annotations

import subprocess

from srvapi import Api
from util import bin_path

MAX_SECONDS = 30


def test_no_generated_request_causes_a_server_error(alice: Api) -> None:
    alice.put_file("seed/file.txt", b"something to find")  # give reads and ops some state to hit
    cmd = [bin_path("schemathesis"), "run", f"{alice.url}/openapi.json",
           "--header", f"Authorization: Bearer {alice.token}",
           "--checks", "not_a_server_error",
           "--exclude-path", "/v1/logout", "--exclude-path", "/v1/changes/wait", "--exclude-method", "DELETE",
           "--max-time", str(MAX_SECONDS), "--request-timeout", "20", "--workers", "2",
           "--suppress-health-check", "all", "--no-color"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_SECONDS + 120)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert alice.get("/v1/account").status_code == 200  # the token survived the run
