"""llm family."""
