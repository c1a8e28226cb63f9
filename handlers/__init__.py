"""Thin operation functions, one module per spec tag; operationId = function name."""
