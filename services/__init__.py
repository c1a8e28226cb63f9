"""Use cases: plain values in and out, each owning its transaction, raising core.errors domain errors."""
