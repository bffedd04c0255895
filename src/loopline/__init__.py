"""loopline: the production loop for machine learning.

``import loopline`` gives the same operations as the ``loopline`` command line, for notebooks
and pipelines. See README.md for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
