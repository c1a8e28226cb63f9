"""Domain errors: what went wrong, in the domain's words.

Services raise these; they know nothing of HTTP. The web edge (``web/errors.py``) maps each
class to its status, error code and headers in one table.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    default_message = "The request cannot be carried out"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class NotFound(DomainError):
    def __init__(self, what: str = "Resource") -> None:
        super().__init__(f"{what} not found")


class Conflict(DomainError):
    default_message = "The resource is in a state that does not allow this"


class PreconditionFailed(DomainError):
    """The caller's expected version of a resource is not its current one: nothing was changed."""

    default_message = "The resource has changed since the version you hold; fetch it again"


class EmailTaken(DomainError):
    default_message = "Email already registered"


class InvalidCredentials(DomainError):
    default_message = "Invalid email or password"


class AccountLocked(DomainError):
    default_message = "Account temporarily locked after too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class AccountDisabled(DomainError):
    default_message = "This account has been disabled; contact the administrators"


class InvalidToken(DomainError):
    default_message = "The token is invalid or has expired"


class NotAuthenticated(DomainError):
    default_message = "Missing or invalid credentials"


class AccessTokenExpired(DomainError):
    default_message = "The access token has expired"


class Forbidden(DomainError):
    default_message = "This operation is for administrators only"


class InvalidInput(DomainError):
    """A rule the schema cannot state was broken by one input ``field`` (``body.password``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__("Invalid input")
        self.field = field
        self.problem = problem


class IdempotencyKeyMismatch(DomainError):
    default_message = "This Idempotency-Key was already used with a different request"


class IdempotencyKeyInUse(DomainError):
    default_message = "A request with this Idempotency-Key is still being processed"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after
