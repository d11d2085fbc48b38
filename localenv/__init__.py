"""IMS's local environment: what `make run`, the tests and the bench need on one machine and a deployment
does not. servers: embedded PostgreSQL and Redis and their supervision; datadir: the data dir, its lock
and generated secrets; scratch: a fresh migrated database for tests and the bench; process: child
process helpers. Nothing deployed imports this package."""
