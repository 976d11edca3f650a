"""Cflow: the REST client, its models and errors."""

from bot.cflow.client import CflowClient, RetryPolicy, create_session
from bot.cflow.errors import (
    CflowError,
    CflowForbiddenError,
    CflowMalformedResponseError,
    CflowNotFoundError,
    CflowRateLimitedError,
    CflowRejectedError,
    CflowServerError,
    CflowUnauthorizedError,
    CflowUnavailableError,
)
from bot.cflow.models import Credentials, Request, Role, Stage, User, Workflow

__all__ = [
    "CflowClient",
    "CflowError",
    "CflowForbiddenError",
    "CflowMalformedResponseError",
    "CflowNotFoundError",
    "CflowRateLimitedError",
    "CflowRejectedError",
    "CflowServerError",
    "CflowUnauthorizedError",
    "CflowUnavailableError",
    "Credentials",
    "Request",
    "RetryPolicy",
    "Role",
    "Stage",
    "User",
    "Workflow",
    "create_session",
]
