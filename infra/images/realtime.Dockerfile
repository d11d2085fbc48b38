# The realtime server (the live feed over WebSocket), `python -m realtime`. Build from the repository root
# (--format docker keeps the HEALTHCHECK):
#   docker build -f infra/images/realtime.Dockerfile -t ims-realtime .
#   buildah bud --format docker -f infra/images/realtime.Dockerfile -t ims-realtime .
# BASE_IMAGE: any image with python3 >= 3.11 and its venv module. Settings come from the environment
# (DATABASE_URL, REDIS_URL, JWT_SECRET, IMS_WS_*); it listens on $IMS_WS_PORT (8001) on every interface,
# /healthz and /metrics on the same port. It writes nothing: run it with a read-only root filesystem.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Pinned, wheels only (no compiler in the image); pip compiles the venv's bytecode as it installs.
ENV PYTHONDONTWRITEBYTECODE=1 PIP_ONLY_BINARY=:all:
WORKDIR /build
COPY requirements.txt requirements-realtime.txt ./
RUN python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements-realtime.txt

FROM ${BASE_IMAGE}
# IMS_WS_HOST: realtime/config.py listens on loopback unless told otherwise.
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH HOME=/tmp IMS_WS_HOST=0.0.0.0
COPY --from=build /venv /venv
WORKDIR /app
COPY shared/ shared/
COPY realtime/ realtime/
# localenv/process.py only: realtime raises its open-file limit with it.
COPY localenv/__init__.py localenv/process.py localenv/
# Bytecode compiled now, as root: at run time nothing may (read-only) or needs to write it.
RUN python3 -m compileall -q /app
USER 65532:65532
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('IMS_WS_PORT') or '8001'), timeout=4)"]
# SIGTERM: close every connection with 1001 (going away), so clients reconnect elsewhere and resume.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "realtime"]
