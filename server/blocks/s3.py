"""Blocks as objects in an S3 bucket: s3://BUCKET/PREFIX/ab/<hash>.

A block is verified against its hash before the PUT, sent with Content-MD5 (the store refuses a body damaged on
the way), and written by one single-part PUT, which S3 makes visible atomically: no reader, listing or restart ever
sees a partial block. Reads are verified too, so a damaged object is an error, never wrong bytes. Endpoint, region
and credentials come the usual AWS ways (environment, shared config, instance roles) through boto3;
`endpoint_url` (or AWS_ENDPOINT_URL) points it at S3-compatible stores.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ferrysync.server.blocks.base import verified
from ferrysync.server.hashing import block_hash, is_block_hash

_PARALLEL = 16


class StoreUnavailable(Exception):
    """The bucket is missing, unreachable, or these credentials may not use it."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending with "/"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://bucket` or `s3://bucket/some/prefix`."""
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        prefix = prefix.strip("/")
        return cls(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


class S3BlockStore:
    def __init__(self, location: S3Location, endpoint_url: str | None = None, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.location = location
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint_url,
            config=Config(max_pool_connections=_PARALLEL * 2, retries={"mode": "standard", "max_attempts": 5},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))
        self._missing_errors = ("404", "NoSuchKey", "NotFound")

    def check(self) -> None:
        """Fail early, with the store's own message, when the bucket is absent or not accessible."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = "no such bucket" if error.get("Code") in self._missing_errors else error.get("Message", exc)
            raise StoreUnavailable(f"bucket {self.location.bucket!r}: {reason}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"bucket {self.location.bucket!r}: {exc}") from None

    def _key(self, digest: str) -> str:
        if not is_block_hash(digest):
            raise ValueError(f"not a block hash: {digest!r}")
        return f"{self.location.prefix}{digest[:2]}/{digest}"

    def _is_missing(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return code in self._missing_errors

    def has(self, digest: str) -> bool:
        return self._head(digest) is not None

    def _head(self, digest: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.location.bucket, Key=self._key(digest))
            return head
        except ClientError as exc:
            if self._is_missing(exc):
                return None
            raise

    def put(self, digest: str, data: bytes) -> None:
        """Write (or re-write, which refreshes its age) one verified block with one atomic PUT."""
        if block_hash(data) != digest:
            raise ValueError(f"block content does not match {digest}")
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._client.put_object(Bucket=self.location.bucket, Key=self._key(digest), Body=data, ContentMD5=md5,
                                ContentType="application/octet-stream")

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        todo = list(dict(items).items())
        if len(todo) < 2:
            for digest, data in todo:
                self.put(digest, data)
            return
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(todo))) as pool:
            for future in [pool.submit(self.put, d, data) for d, data in todo]:
                future.result()  # re-raise the first failure: the caller then records none of them

    def get(self, digest: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            obj = self._client.get_object(Bucket=self.location.bucket, Key=self._key(digest))
        except ClientError as exc:
            if self._is_missing(exc):
                raise KeyError(digest) from None
            raise
        data: bytes = obj["Body"].read()
        return verified(digest, data, f"s3://{self.location.bucket}/{self._key(digest)}")

    def delete(self, digest: str) -> None:
        self._client.delete_object(Bucket=self.location.bucket, Key=self._key(digest))

    def delete_if_older(self, digest: str, cutoff_s: float) -> bool:
        """Delete unless (re-)written after the cutoff. Not atomic against a concurrent PUT by itself: garbage
        collection takes the block's delete mark in the database first (store/blockmarks.py), which is."""
        head = self._head(digest)
        if head is None or head["LastModified"].timestamp() >= cutoff_s:
            return False
        self.delete(digest)
        return True

    def compact(self) -> int:
        return 0  # deleting a block already gave its space back

    def iter(self) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.location.prefix):].rpartition("/")[2]
                if is_block_hash(name) and obj["Key"] == self._key(name):
                    yield name
