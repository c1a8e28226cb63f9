"""Use cases: each owns its transaction and raises core.errors.ApiError."""
