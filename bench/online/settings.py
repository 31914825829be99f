"""The project's settings plus the benchmark's trivial view.

Only gunicorn under `bench/online/run.py` uses this module; nothing in the
product imports it, so the trivial view is never served outside a run.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.online.urls"
