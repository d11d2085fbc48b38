"""The product through HTTP: every test drives the real gateway, real functions, real PostgreSQL."""
