"""Moved to `kerasopt.stats`; the two names tests/test_defects_metrics.py imports from here stay importable."""

from kerasopt.stats.intervals import seeds_and_images_interval, t_interval  # noqa: F401
