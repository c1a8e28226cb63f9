"""The web edge: ASGI middleware, request validation, bearer checks and the error envelope."""
