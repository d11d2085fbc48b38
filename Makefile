# IMS entry points. Every target creates .venv and installs the pinned dependencies when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements*.txt | cksum | cut -d' ' -f1)

.PHONY: help install run test infra-test bench backup restore backup-list bundle deploy migrate relay trigger create-manager ui-site clean

help:
	@echo "make run      serve the API on IMS_PORT (8000), with embedded PostgreSQL and Redis"
	@echo "make test     run the whole test suite (embedded servers unless TEST_DATABASE_URL/TEST_REDIS_URL)"
	@echo "make infra-test   lint and build the images (Knative, api, realtime, jobs) with buildah, test them running under podman (as root)"
	@echo "make bench    seed 100k items and print performance figures"
	@echo "make backup   pg_dump the database to BACKUP_URL (s3://bucket/prefix) with a manifest; prune by retention"
	@echo "make restore [KEY=…] [FORCE=1]   restore the newest (or KEY) backup into DATABASE_URL, verified"
	@echo "make backup-list   list the backups under BACKUP_URL"
	@echo "make bundle   write build/do/, a DigitalOcean Functions project ready to deploy"
	@echo "make deploy   preflight (settings, migrations), make bundle, doctl serverless deploy build/do --remote-build"
	@echo "make ui-site API=… WS=…   write build/ui/, the web UI as a static site in front of function URLs (or another API)"
	@echo "make migrate  apply migrations to DATABASE_DIRECT_URL (else DATABASE_URL)"
	@echo "make relay    publish outbox events that missed Redis (DATABASE_URL, REDIS_URL)"
	@echo "make trigger T=daily-digest   fire a project.yml trigger (or T=package/function) on the running gateway"
	@echo "make create-manager EMAIL=… NAME=…   create an active manager (password: IMS_MANAGER_PASSWORD, or asked)"

$(STAMP): $(wildcard requirements*.txt)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m gateway

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

infra-test: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	PYTHON=$(BIN)/python infra/check

bench: $(STAMP)
	$(BIN)/python -m bench

backup: $(STAMP)
	$(BIN)/python -m backup take

restore: $(STAMP)
	$(BIN)/python -m backup restore $(if $(KEY),--key "$(KEY)") $(if $(filter 1 true yes,$(FORCE)),--force)

backup-list: $(STAMP)
	$(BIN)/python -m backup list

bundle: $(STAMP)
	$(BIN)/python -m gateway.bundle

deploy: $(STAMP)
	$(BIN)/python -m gateway.deploy

migrate: $(STAMP)
	$(BIN)/python -m shared.migrate

relay: $(STAMP)
	$(BIN)/python -c "from shared import events; print('published', events.relay())"

trigger: $(STAMP)
	@test -n "$(T)" || { echo "usage: make trigger T=<trigger name or package/function>, e.g. T=daily-digest"; exit 2; }
	$(BIN)/python -m gateway.trigger "$(T)"

create-manager: $(STAMP)
	@test -n "$(EMAIL)" -a -n "$(NAME)" || { echo "usage: make create-manager EMAIL=ana@example.com NAME='Ana Lima'"; exit 2; }
	$(BIN)/python -m gateway.admin create-manager --email "$(EMAIL)" --name "$(NAME)"

clean:
	rm -rf build .pytest_cache

ui-site: $(STAMP)
	@test -n "$(API)" -a -n "$(WS)" || { echo "usage: make ui-site API=https://<host>/api/v1/web/<namespace> WS=wss://<realtime host>/ws"; exit 2; }
	$(BIN)/python -m gateway.site --api "$(API)" --ws "$(WS)"
