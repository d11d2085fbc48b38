# The self-hosted front (README, "The self-hosted front"): gunicorn serving every route of IMS,
# `python -m gateway.serve`. Build from the repository root (--format docker keeps the HEALTHCHECK):
#   docker build -f infra/images/api.Dockerfile -t ims-api .
#   buildah bud --format docker -f infra/images/api.Dockerfile -t ims-api .
# BASE_IMAGE: any image with python3 >= 3.11 and its venv module. Settings come from the environment
# (DATABASE_URL, REDIS_URL, JWT_SECRET, ...); it listens on $IMS_PORT, else $PORT, else 8000, on every
# interface. It writes nothing outside /tmp and /dev/shm: run it with a read-only root filesystem.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Pinned, wheels only (no compiler in the image); pip compiles the venv's bytecode as it installs.
# The SendGrid transport too: the front runs the mailer function.
ENV PYTHONDONTWRITEBYTECODE=1 PIP_ONLY_BINARY=:all:
WORKDIR /build
COPY requirements.txt requirements-server.txt requirements-mail.txt ./
RUN python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      -r requirements-server.txt -r requirements-mail.txt

FROM ${BASE_IMAGE}
# IMS_HOST: gateway/serve.py listens on loopback unless told otherwise, which no one outside reaches.
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH HOME=/tmp IMS_HOST=0.0.0.0
COPY --from=build /venv /venv
WORKDIR /app
COPY project.yml ./
COPY shared/ shared/
COPY functions/ functions/
COPY gateway/ gateway/
# The web UI, served at / (gateway.ui).
COPY ui/ ui/
# realtime/: only its settings, read to say where the live feed is in /asyncapi.json.
COPY realtime/ realtime/
COPY migrations/ migrations/
# Bytecode compiled now, as root: at run time nothing may (read-only) or needs to write it.
RUN python3 -m compileall -q /app
USER 65532:65532
EXPOSE 8000
# /api/v1/health: 503 while PostgreSQL or Redis is down, so a balancer sends its traffic elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % (os.environ.get('IMS_PORT') or os.environ.get('PORT') or '8000'), timeout=4)"]
# SIGTERM: stop accepting, finish the requests in flight (IMS_GRACEFUL_TIMEOUT, 30 s), exit 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "gateway.serve"]
