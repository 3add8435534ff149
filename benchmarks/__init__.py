"""Benchmarks: run as modules (``python -m benchmarks.compare_torch``) from the repository root.

Importing this package first sets what ``import rnnlm`` sets before numpy loads: OpenBLAS
threads sleep between calls instead of spinning (see rnnlm/parallel.py).
"""

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
