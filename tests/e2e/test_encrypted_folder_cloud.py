"""No plaintext on the PostgreSQL + S3 backend either: test_encrypted_folder.py greps the disk backend's data
folder; here the same kind of tree goes through a server on PostgreSQL (metadata) and S3 (blocks), and every row
of every table and every object of the bucket is searched for the names and content samples written.

A plain folder synced beside the encrypted one is the control: its name and content must be found, which proves
the search reads where the server keeps things (a search that sees nothing would pass for the wrong reason).
Needs tests/services.sh (it skips without PostgreSQL and S3).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cloud import bucket_keys, cloud_args, require_services, s3_client
from devices import Device
from util import ServerFactory

PASSPHRASE = "correct horse battery staple"


def _database_text(url: str) -> bytes:
    """Every row of every table of the server's database, as PostgreSQL prints it."""
    import psycopg

    out = bytearray()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        for table in tables:
            for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall():
                out += row.encode() + b"\n"
    return bytes(out)


def _bucket_bytes(endpoint: str, bucket: str) -> bytes:
    client = s3_client(endpoint)
    return b"".join(client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in bucket_keys(endpoint, bucket))


def test_postgres_and_s3_hold_no_plaintext_of_an_encrypted_folder(tmp_path_factory: pytest.TempPathFactory,
                                                                  tmp_path: Path) -> None:
    require_services()
    factory = ServerFactory(tmp_path_factory)
    device: Device | None = None
    with cloud_args() as args:
        try:
            server = factory.make(args)
            server.add_user("alice", "alice-pw")
            device = Device(name="laptop", home=tmp_path / "home", folder=tmp_path / "Vault",
                            keyring_dir=tmp_path / "keyring")
            device.login(server.url, "alice", "alice-pw")
            device.start()
            vault, plain = tmp_path / "Vault", tmp_path / "Plain"
            names = ["ContractWalrus", "DiagnosisMarmoset", "salary-ibex.xlsx", "diary-lemur.txt"]
            (vault / names[0] / names[1]).mkdir(parents=True)
            samples = [b"content-marker-gecko " * 20, b"content-marker-heron"]
            (vault / names[0] / names[1] / names[2]).write_bytes(samples[0])
            big = os.urandom(2 * 1024 * 1024) + samples[1] + os.urandom(512 * 1024)
            samples.append(big[50_000:50_064])
            (vault / names[0] / names[3]).write_bytes(big)
            plain.mkdir()
            (plain / "ControlNameOtter.txt").write_bytes(b"control-content-marker-puffin")
            device.ferry("folder", "add", str(vault), "--remote", "/Vault", "--encrypted", "--passphrase-stdin",
                         input=PASSPHRASE + "\n")
            device.ferry("folder", "add", str(plain), "--remote", "/Plain")
            device.wait_synced(timeout=90)

            database = args[args.index("--database-url") + 1]
            bucket = args[args.index("--blocks") + 1].removeprefix("s3://").split("/", 1)[0]
            endpoint = args[args.index("--s3-endpoint-url") + 1]
            stored = _database_text(database) + _bucket_bytes(endpoint, bucket)
            assert b"ControlNameOtter.txt" in stored  # the control: the search sees names…
            assert b"control-content-marker-puffin" in stored  # …and block contents
            assert b".ferry-e2ee-keys" in stored
            for name in names:
                assert name.encode() not in stored, f"the name {name!r} is on the server in plaintext"
            for sample in samples:
                assert sample not in stored, f"content {sample[:30]!r} is on the server in plaintext"
        finally:
            if device is not None:
                device.stop()
            for s in factory.started:
                s.stop()
