"""The TensorFlow Moré-Thuente line search takes the same trial steps as scipy's DCSRCH."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize._dcsrch import DCSRCH

from kerasopt.optimizers import more_thuente


def phi(a):  # a 1-D function with a minimizer near a = 2.4 and strong curvature change
    return (a - 2.0) ** 4 / 4.0 - 3.0 * a + np.sin(3.0 * a)


def dphi(a):
    return (a - 2.0) ** 3 - 3.0 + 3.0 * np.cos(3.0 * a)


def tf_trials(stp, stpmax, ftol=1e-3, gtol=0.9, xtol=0.1, limit=20):
    f0, g0 = phi(0.0), dphi(0.0)
    state = more_thuente.start(tf.constant(stp, tf.float64), tf.constant(f0, tf.float64),
                               tf.constant(g0, tf.float64), ftol, tf.constant(0.0, tf.float64),
                               tf.constant(stpmax, tf.float64))
    trials, stp = [], tf.constant(stp, tf.float64)
    for _ in range(limit):
        trials.append(float(stp))
        state, stp, converged, warned = more_thuente.advance(state, stp, tf.constant(phi(float(stp)), tf.float64),
                                                             tf.constant(dphi(float(stp)), tf.float64), gtol, xtol,
                                                             tf.constant(0.0, tf.float64),
                                                             tf.constant(stpmax, tf.float64))
        if bool(converged) or bool(warned):
            return trials, bool(converged)
    return trials, False


def scipy_trials(stp, stpmax, ftol=1e-3, gtol=0.9, xtol=0.1):
    trials = []

    def traced(a):
        trials.append(a)
        return phi(a)

    search = DCSRCH(traced, dphi, ftol, gtol, xtol, 0.0, stpmax)
    result, _, _, task = search(stp, phi0=phi(0.0), derphi0=dphi(0.0), maxiter=20)
    return trials, task[:4] == b"CONV"


@pytest.mark.parametrize("stp, stpmax, gtol", [(0.01, 1e10, 0.01), (0.5, 1e10, 0.01), (30.0, 1e10, 0.1),
                                               (0.01, 1.0, 0.1), (0.01, 2.0, 0.1)])
def test_trial_steps_match_scipy_dcsrch(stp, stpmax, gtol):
    ours, converged = tf_trials(stp, stpmax, gtol=gtol)
    theirs, scipy_converged = scipy_trials(stp, stpmax, gtol=gtol)
    assert len(ours) == len(theirs) and len(ours) > 2  # extrapolation, bracketing and zoom
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert converged == scipy_converged
