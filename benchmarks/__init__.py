"""Benchmarks: run as modules (``python -m benchmarks.compare_torch``) from the repository root.

Importing this package imports rnnlm first, so what it sets before numpy loads (how long
OpenBLAS threads spin between calls, see rnnlm/__init__.py) holds for every benchmark.
"""

import rnnlm  # noqa: F401
