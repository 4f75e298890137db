#!/usr/bin/env python3
"""check.py GOT.npy WANT.npy: exit 0 when they hold the same dtype, shape and
values (NaN where NaN is wanted), else 1 with what differs."""
import sys

import numpy as np

got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
if got.dtype != want.dtype or got.shape != want.shape:
    sys.exit(f"{sys.argv[1]}: {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}")
try:
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)
except AssertionError as e:
    sys.exit(f"{sys.argv[1]}: {e}")
