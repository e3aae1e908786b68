"""contract family."""
