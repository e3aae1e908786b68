"""redact family."""
