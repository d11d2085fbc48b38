"""Business operations, one module per concern. Functions call exactly one of these."""
