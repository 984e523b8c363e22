"""Shared test setup: quiet TensorFlow, keep it to the 2 CPU cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
