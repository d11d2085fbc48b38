# The jobs image: migrations (`python -m shared.migrate`, run to completion before a new version starts)
# and backups (`python -m backup take`, the default; also `restore`, `list`). Build from the repository
# root (--format docker keeps the HEALTHCHECK):
#   docker build -f infra/images/jobs.Dockerfile -t ims-jobs .
#   buildah bud --format docker -f infra/images/jobs.Dockerfile -t ims-jobs .
# BASE_IMAGE: any image with python3 >= 3.11, its venv module and zlib. Settings come from the
# environment (DATABASE_URL or DATABASE_DIRECT_URL, BACKUP_URL, AWS_*, BACKUP_*). pg_dump, pg_restore and
# psql are PostgreSQL 16.2's, from the pinned pgserver wheel (backup/postgres.py finds them there): they
# dump servers up to 16. It writes nothing outside /tmp: run it with a read-only root filesystem.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Pinned, wheels only (no compiler in the image); pip compiles the venv's bytecode as it installs.
ENV PYTHONDONTWRITEBYTECODE=1 PIP_ONLY_BINARY=:all:
WORKDIR /build
COPY requirements.txt requirements-backup.txt requirements-jobs.txt ./
RUN python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements-jobs.txt

FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH HOME=/tmp
COPY --from=build /venv /venv
WORKDIR /app
COPY shared/ shared/
COPY migrations/ migrations/
COPY backup/ backup/
# localenv/: backup/__main__.py imports its servers module (used only without DATABASE_URL, never here);
# gateway/locks.py: what localenv imports from the gateway.
COPY localenv/ localenv/
COPY gateway/__init__.py gateway/locks.py gateway/
# Bytecode compiled now, as root: at run time nothing may (read-only) or needs to write it.
RUN python3 -m compileall -q /app
USER 65532:65532
# A one-shot job serves nothing: its check (and the build's, below) is that the code loads and that
# pg_dump, pg_restore and psql of PostgreSQL 16 or newer run here, their shared libraries all present.
HEALTHCHECK --interval=60s --timeout=20s --retries=1 \
  CMD ["python", "-c", "import shared.migrate; from backup import postgres; [postgres.binary(n, 16) for n in ('pg_dump', 'pg_restore', 'psql')]"]
RUN ["python", "-c", "import shared.migrate; from backup import postgres; [postgres.binary(n, 16) for n in ('pg_dump', 'pg_restore', 'psql')]"]
CMD ["python", "-m", "backup", "take"]
