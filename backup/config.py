"""The backup job's settings, from the environment. The AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION) are boto3's own; only the region is passed on,
because boto3 reads AWS_DEFAULT_REGION and not AWS_REGION."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

SSE_CHOICES = ("AES256", "aws:kms")


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Config:
    bucket: str
    prefix: str  # "" or "some/path/" (with its slash)
    database_url: str  # DATABASE_URL: what a restore writes to, and where runs are recorded
    dump_url: str  # DATABASE_DIRECT_URL, else DATABASE_URL: pg_dump's snapshot needs the database, not a pooler
    keep_daily: int = 7
    keep_weekly: int = 4
    sse: str = ""  # server-side encryption: "", AES256 or aws:kms
    sse_kms_key_id: str = ""
    part_size: int = 16 * 1024 * 1024  # bytes per multipart part: memory held per upload thread
    region: str = ""


def _count(env: dict[str, str], name: str, default: int, problems: list[str], minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        problems.append(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
        return default
    return int(raw)


def load(env: dict[str, str] | None = None, database: bool = True) -> Config:
    """The settings, or ConfigError naming every problem at once (`database=False`: listing only)."""
    env = dict(os.environ if env is None else env)
    problems: list[str] = []
    url = env.get("BACKUP_URL", "").strip()
    parts = urlsplit(url)
    if not url:
        problems.append("BACKUP_URL is not set (s3://bucket/prefix)")
    elif parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        problems.append(f"BACKUP_URL must look like s3://bucket/prefix, not {url!r}")
    prefix = parts.path.strip("/")
    database_url = env.get("DATABASE_URL", "")
    if database and not database_url:
        problems.append("DATABASE_URL is not set")
    sse = env.get("BACKUP_SSE", "").strip()
    if sse and sse not in SSE_CHOICES:
        problems.append(f"BACKUP_SSE must be one of {', '.join(SSE_CHOICES)} (or unset), not {sse!r}")
    kms_key = env.get("BACKUP_SSE_KMS_KEY_ID", "").strip()
    if kms_key and sse != "aws:kms":
        problems.append("BACKUP_SSE_KMS_KEY_ID needs BACKUP_SSE=aws:kms")
    # S3 refuses parts under 5 MiB (all but the last) and allows at most 10,000 of them.
    part_mb = _count(env, "BACKUP_PART_SIZE_MB", 16, problems, minimum=5)
    config = Config(
        bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "", database_url=database_url,
        dump_url=env.get("DATABASE_DIRECT_URL") or database_url,
        keep_daily=_count(env, "BACKUP_KEEP_DAILY", 7, problems),
        keep_weekly=_count(env, "BACKUP_KEEP_WEEKLY", 4, problems),
        sse=sse, sse_kms_key_id=kms_key, part_size=part_mb * 1024 * 1024,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "")
    if problems:
        raise ConfigError("; ".join(problems))
    return config
