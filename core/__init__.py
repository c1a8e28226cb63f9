"""Cross-cutting pieces: configuration, errors, logging, security, limits, metrics."""

import warnings

# Connexion imports Starlette's test client at import time, and Starlette 1.x warns there that the
# client wants httpx2. A test-only concern that would otherwise print a stray, non-JSON line to
# every API worker's log; app.py imports this package before Connexion for that reason.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
