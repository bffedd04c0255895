"""Fixed vocabularies shared by the packages and the command line.

A module without imports: the CLI shows these in its help without importing the packages that
use them (``loopline --help`` loads no data, model or database library).
"""

from __future__ import annotations

__all__ = ["ROLES", "SCOPES", "STRATEGIES", "TEMPLATES"]

#: Every role, least to most powerful.
ROLES: tuple[str, ...] = ("viewer", "reviewer", "maintainer", "admin")

#: Every token scope.
SCOPES: tuple[str, ...] = ("predict", "feedback", "review", "admin")

#: Template names accepted by ``loopline init --template``.
TEMPLATES: tuple[str, ...] = ("binary-classification", "regression")

#: How ``loopline deploy`` puts a model version into service.
STRATEGIES: tuple[str, ...] = ("direct", "canary", "ab", "shadow")
