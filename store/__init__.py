"""Data access: the only place SQL is built, one module per aggregate."""
