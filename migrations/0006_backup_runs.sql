-- Every backup and restore run records its outcome here (backup/__main__.py); /metrics reads the
-- last successful backup's time and size for the BackupTooOld alert.
CREATE TABLE backup_runs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('backup', 'restore')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    succeeded    boolean NOT NULL,
    key          text,
    size_bytes   bigint,
    error        text
);
CREATE INDEX backup_runs_kind_idx ON backup_runs (kind, succeeded, finished_at);
