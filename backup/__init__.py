"""Backups of the IMS database: `pg_dump` in custom format streamed to S3-compatible storage, a manifest
beside each dump, the retention policy, and a restore that proves what it restored.

`python -m backup` takes one backup (`make backup`); `python -m backup restore` restores one
(`make restore`); `python -m backup list` lists them. Settings: backup/config.py. The run records
its outcome in the `backup_runs` table, which /metrics reads (ims_backup_last_success_timestamp_seconds).
"""
