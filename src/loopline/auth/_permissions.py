"""Roles, token scopes, permissions and the :class:`Principal` a request acts as.

A route asks for one *permission*. A person's *role* grants a set of permissions; an API token
is further limited by its *scopes*: a token may do what both its owner's role and its scopes
allow. ``admin`` implies every permission.

Permissions:

- ``read``: see datasets, models, deployments, monitoring, lineage, cases and the audit trail.
- ``predict``: ask for predictions.
- ``feedback``: send outcomes and late labels.
- ``review``: claim and decide escalated cases.
- ``train``: ingest data, train models, run experiments.
- ``deploy``: deploy, step a canary, roll back.
- ``promote``: promote, archive and approve model versions.
- ``admin``: manage users and tokens; implies all of the above.

Roles (each includes the one below it):

| permission | viewer | reviewer | maintainer | admin |
|------------|:------:|:--------:|:----------:|:-----:|
| read       |   ✓    |    ✓     |     ✓      |   ✓   |
| feedback   |        |    ✓     |     ✓      |   ✓   |
| review     |        |    ✓     |     ✓      |   ✓   |
| predict    |        |          |     ✓      |   ✓   |
| train      |        |          |     ✓      |   ✓   |
| deploy     |        |          |     ✓      |   ✓   |
| promote    |        |          |     ✓      |   ✓   |
| admin      |        |          |            |   ✓   |

Token scopes:

| scope      | grants                 | owner's role needs       |
|------------|------------------------|--------------------------|
| `predict`  | predict                | maintainer or admin      |
| `feedback` | feedback               | reviewer or above        |
| `review`   | review, read           | reviewer or above        |
| `admin`    | admin (so: everything) | admin                    |

A web session acts with its user's role, unrestricted by scopes. With ``LOOPLINE_AUTH=off``
every request acts as an anonymous admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopline._vocabulary import ROLES, SCOPES

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SCOPES",
    "SCOPE_PERMISSIONS",
    "Principal",
    "check_permission",
]

#: Every permission a route can require, least to most powerful.
PERMISSIONS: tuple[str, ...] = (
    "read",
    "predict",
    "feedback",
    "review",
    "train",
    "deploy",
    "promote",
    "admin",
)


_VIEWER = frozenset({"read"})
_REVIEWER = _VIEWER | {"feedback", "review"}
_MAINTAINER = _REVIEWER | {"predict", "train", "deploy", "promote"}

#: What each role may do.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "reviewer": _REVIEWER,
    "maintainer": _MAINTAINER,
    "admin": frozenset(PERMISSIONS),
}

#: What each token scope lets a token do (within its owner's role).
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "predict": frozenset({"predict"}),
    "feedback": frozenset({"feedback"}),
    "review": frozenset({"review", "read"}),
    "admin": frozenset(PERMISSIONS),
}


def check_permission(permission: str) -> str:
    """Return ``permission`` if it is known; a typo in a route is a bug, so fail loudly.

    Raises:
        ValueError: The permission is not one of :data:`PERMISSIONS`.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; use one of {PERMISSIONS}")
    return permission


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and through what.

    Attributes:
        name: The user's name (``anonymous`` when authentication is off).
        role: The user's role, one of :data:`ROLES`.
        scopes: The token's scopes; every scope for sessions and anonymous principals.
        via: How the request authenticated: ``token``, ``session`` or ``anonymous``.

    Example:
        >>> token = Principal("ci", "maintainer", frozenset({"predict"}), "token")
        >>> token.allows("predict"), token.allows("deploy")
        (True, False)
    """

    name: str
    role: str
    scopes: frozenset[str]
    via: Literal["token", "session", "anonymous"]

    @property
    def permissions(self) -> frozenset[str]:
        """Everything this principal may do: its role's permissions, within its scopes."""
        granted = frozenset().union(*(SCOPE_PERMISSIONS.get(s, ()) for s in self.scopes))
        allowed = ROLE_PERMISSIONS.get(self.role, frozenset()) & granted
        return frozenset(PERMISSIONS) if "admin" in allowed else allowed

    def allows(self, permission: str) -> bool:
        """Whether this principal may do ``permission`` (``admin`` implies everything).

        Raises:
            ValueError: ``permission`` is not one of :data:`PERMISSIONS` (a bug in the caller).
        """
        return check_permission(permission) in self.permissions
