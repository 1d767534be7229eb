"""Cloud backends benchmark: batch commits on SQLite vs PostgreSQL (one process vs two), and block upload and
download throughput into the disk store vs an S3 store.

`python bench/run.py cloud` needs PostgreSQL and an S3 endpoint: run it as
`bash tests/services.sh python bench/run.py cloud` (FERRY_TEST_POSTGRES_URL, FERRY_TEST_S3_ENDPOINT). Every
server is a real ferry-server on loopback in a temp dir; the figures print as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import blake3
from server_bench import _bin, _free_port, _session, _wait_http

MIB = 1024 * 1024
WRITERS = 4
COMMITS_PER_WRITER = 25
OPS_PER_COMMIT = 100
BLOCK = 4 * MIB
BLOCKS = 24
PARALLEL = 4


@contextmanager
def _server(data: Path, extra: list[str]) -> Iterator[str]:
    port = _free_port()
    log = (data.parent / f"{data.name}-{port}.log").open("ab")
    proc = subprocess.Popen([_bin("ferry-server"), "serve", "--data", str(data), "--port", str(port),
                             "--log-level", "warning", "--gc-interval", "0", *extra], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/v1/health", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _add_user(data: Path, extra: list[str], name: str) -> None:
    db = extra[extra.index("--database-url"):][:2] if "--database-url" in extra else []
    subprocess.run([_bin("ferry-server"), "user", "add", name, "--password-stdin", "--data", str(data), *db],
                   input=b"pw", check=True, capture_output=True)


@contextmanager
def _database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = "ferry_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _bucket(endpoint: str) -> Iterator[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    name = "ferry-bench-" + uuid.uuid4().hex[:8]
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)


def bench_commits(urls: list[str], user: str) -> dict[str, Any]:
    """WRITERS threads, spread over the given server processes, each committing batches of new files."""
    sessions = [_session(urls[i % len(urls)], user, "pw", f"writer-{i}") for i in range(WRITERS)]
    data = b"x" * 1000
    digest = blake3.blake3(data).hexdigest()
    for s, url in zip(sessions, [urls[i % len(urls)] for i in range(WRITERS)], strict=True):
        s.put(f"{url}/v1/blocks/{digest}", data=data, timeout=60).raise_for_status()

    def write(i: int) -> None:
        url = urls[i % len(urls)]
        for c in range(COMMITS_PER_WRITER):
            ops = [{"op": "put", "path": f"w{i}/c{c}/f{k}", "blocks": [digest], "size": len(data), "mtime_ns": 1,
                    "executable": False, "base_rev": None} for k in range(OPS_PER_COMMIT)]
            r = sessions[i].post(f"{url}/v1/commit", json={"ops": ops}, timeout=120)
            r.raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    elapsed = time.perf_counter() - t0
    commits = WRITERS * COMMITS_PER_WRITER
    return {"processes": len(urls), "writers": WRITERS, "commits": commits, "ops_per_commit": OPS_PER_COMMIT,
            "seconds": round(elapsed, 3), "commits_per_s": round(commits / elapsed, 1),
            "files_per_s": round(commits * OPS_PER_COMMIT / elapsed, 1)}


def bench_blocks(url: str, user: str) -> dict[str, Any]:
    """BLOCKS blocks of 4 MiB up (PARALLEL at once) and down again; MiB/s each way."""
    s = _session(url, user, "pw", "blocks")
    blocks = [os.urandom(BLOCK) for _ in range(BLOCKS)]
    digests = [blake3.blake3(b).hexdigest() for b in blocks]

    def up(i: int) -> None:
        s.put(f"{url}/v1/blocks/{digests[i]}", data=blocks[i], timeout=120).raise_for_status()

    def down(i: int) -> None:
        r = s.get(f"{url}/v1/blocks/{digests[i]}", timeout=120)
        r.raise_for_status()
        assert len(r.content) == BLOCK

    result: dict[str, Any] = {"blocks": BLOCKS, "block_mib": BLOCK // MIB, "parallel": PARALLEL}
    for name, fn in (("upload", up), ("download", down)):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(fn, range(BLOCKS)))
        result[f"{name}_mib_per_s"] = round(BLOCKS * BLOCK / MIB / (time.perf_counter() - t0), 1)
    return result


def main() -> int:
    pg, s3 = os.environ.get("FERRY_TEST_POSTGRES_URL"), os.environ.get("FERRY_TEST_S3_ENDPOINT")
    if not pg or not s3:
        print("cloud bench: needs PostgreSQL and S3; run: bash tests/services.sh python bench/run.py cloud",
              file=sys.stderr)
        return 2
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ferry-cloud-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        local = root / "sqlite"
        _add_user(local, [], "bench")
        url = stack.enter_context(_server(local, []))
        out["commits_sqlite_1_process"] = bench_commits([url], "bench")
        out["blocks_disk"] = bench_blocks(url, "bench")

        db = stack.enter_context(_database(pg))
        bucket = stack.enter_context(_bucket(s3))
        cloud = ["--database-url", db, "--blocks", f"s3://{bucket}/blocks", "--s3-endpoint-url", s3]
        _add_user(root / "pg", cloud, "bench")
        _add_user(root / "pg", cloud, "bench2")
        first = stack.enter_context(_server(root / "pg", cloud))
        second = stack.enter_context(_server(root / "pg", cloud))
        out["commits_postgresql_1_process"] = bench_commits([first], "bench")
        out["commits_postgresql_2_processes"] = bench_commits([first, second], "bench2")
        out["blocks_s3"] = bench_blocks(first, "bench")
    out["note"] = ("one user, writers committing concurrently (commits of one user serialise on its counter "
                   "row); PostgreSQL with fsync=off when started by tests/services.sh; S3 = SeaweedFS on loopback")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
