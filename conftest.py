"""Test-suite switches, set before any test or notebook kernel starts.

The suite runs offline and in fast mode by design: notebooks executed by nbval inherit
these variables, so they train on a few hundred images and never try to download.
"""

import os

os.environ["CNNKIT_FAST"] = "1"
os.environ["CNNKIT_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
