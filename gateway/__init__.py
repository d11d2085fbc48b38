"""The local and self-hosted HTTP front for IMS functions.

It reads project.yml, serves every web function at its REST route and at its DigitalOcean-style
function URL, and turns HTTP into exactly the event the platform would send (see events.py).
`python -m gateway` runs the whole product on one machine with embedded PostgreSQL and Redis.
"""
