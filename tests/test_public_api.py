"""The public surface: sorted __all__ everywhere, nothing private needed, everything importable."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "loopline",
    "loopline.data",
    "loopline.expressions",
    "loopline.lineage",
    "loopline.spec",
    "loopline.store",
    "loopline.demo",
    "loopline.charts",
    "loopline.registry",
    "loopline.runs",
    "loopline.serving",
    "loopline.training",
    "loopline.auth",
    "loopline.review",
    "loopline.ui",
    "loopline.monitoring",
    "loopline.jobs",
    "loopline.experiments",
]


def _isort_style(item: str) -> tuple[int, str]:
    """Constants, then classes, then functions, as ruff's RUF022 sorts ``__all__``."""
    group = 0 if item.isupper() else 1 if item[:1].isupper() else 2
    return group, item


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_style), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for item in exported:
        assert hasattr(module, item), f"{name}.{item}"
        assert not item.startswith("_") or item == "__version__"


def test_errors_share_one_root() -> None:
    import loopline.errors as errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors.LooplineError)
            assert value.code
            assert value.code == value.code.lower()
