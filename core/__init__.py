"""Cross-cutting pieces: configuration, errors, logging, security, limits, metrics."""
