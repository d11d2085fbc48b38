"""The bucket side: naming, multipart upload of a stream, listing, manifests, download, deletion.

A backup is two objects under the prefix: `ims-<UTC time>-<random>.dump` (the pg_dump archive) and
`ims-<same>.json` (its manifest, written last). The time in the name is when the backup started, so
listing needs no object to be read; the random part keeps two backups started in the same second
apart. A dump without its manifest is an upload that failed after completing, or one in progress.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import datetime, timezone
from typing import IO, Any

from backup.config import Config
from backup.retention import Backup

_NAME = re.compile(r"^ims-(\d{8}T\d{6}Z)-([0-9a-f]{8})\.(dump|json)$")
_TIME = "%Y%m%dT%H%M%SZ"


class StoreError(RuntimeError):
    pass


def new_name(now: datetime) -> str:
    """The stem of a new backup's two objects: its start time and a random part."""
    return f"ims-{now.astimezone(timezone.utc).strftime(_TIME)}-{secrets.token_hex(4)}"


def taken_at(key: str) -> datetime:
    match = _NAME.match(key.rsplit("/", 1)[-1])
    if match is None:
        raise StoreError(f"not an IMS backup key: {key!r}")
    return datetime.strptime(match[1], _TIME).replace(tzinfo=timezone.utc)


class Store:
    def __init__(self, config: Config) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        self.config = config
        self.bucket, self.prefix = config.bucket, config.prefix
        # AWS_ENDPOINT_URL (Spaces, MinIO) and the credentials are read by boto3 itself.
        self.s3 = boto3.client("s3", region_name=config.region or None,
                               config=BotoConfig(retries={"mode": "standard", "max_attempts": 5}))

    def _extra(self) -> dict[str, str]:
        extra = {}
        if self.config.sse:
            extra["ServerSideEncryption"] = self.config.sse
        if self.config.sse_kms_key_id:
            extra["SSEKMSKeyId"] = self.config.sse_kms_key_id
        return extra

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def upload(self, stream: IO[bytes], key: str) -> None:
        """Upload `stream` (read to its end, never seeked) as `key`, in parts of `part_size` bytes.

        An exception raised by `stream.read` aborts the multipart upload: no object appears."""
        from boto3.s3.transfer import TransferConfig

        size = self.config.part_size
        transfer = TransferConfig(multipart_threshold=size, multipart_chunksize=size, max_concurrency=4,
                                  use_threads=True)
        transfer.max_in_memory_upload_chunks = 4  # s3transfer's (default 10), which boto3's constructor lacks
        extra = {"ContentType": "application/octet-stream", **self._extra()}
        self.s3.upload_fileobj(stream, self.bucket, key, ExtraArgs=extra, Config=transfer)

    def put_manifest(self, key: str, manifest: dict[str, Any]) -> None:
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                           **self._extra())

    def manifest(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        try:
            manifest = json.loads(body)
        except ValueError as exc:
            raise StoreError(f"the manifest {key} is not JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"the manifest {key} is not a JSON object")
        return manifest

    def list(self) -> list[Backup]:
        """Every backup under the prefix, oldest first; objects not named like a backup are left alone."""
        names: dict[str, set[str]] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(self.prefix):]
                match = _NAME.match(rest)
                if match is not None:
                    names.setdefault(rest.rsplit(".", 1)[0], set()).add(match[3])
        backups = [Backup(self.key(f"{stem}.dump"), taken_at(stem + ".dump"), "json" in kinds)
                   for stem, kinds in names.items() if "dump" in kinds]
        return sorted(backups, key=lambda b: (b.taken_at, b.key))

    def open(self, key: str) -> Any:
        """The object's body as a stream (botocore's StreamingBody) and its size."""
        answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        return answer["Body"], int(answer["ContentLength"])

    def remove(self, key: str) -> None:
        """Delete one object, on the way out of a failure: its own error is logged, not raised over it."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            logging.getLogger("ims.backup").warning("could not delete %s: %s", key, exc)

    def delete(self, backups: list[Backup]) -> None:
        """Delete backups, manifest first (so a half-deleted one reads as incomplete, never as good)."""
        for backup in backups:
            for key in (manifest_key(backup.key), backup.key):
                self.s3.delete_object(Bucket=self.bucket, Key=key)


def manifest_key(dump_key: str) -> str:
    return dump_key[: -len(".dump")] + ".json"
