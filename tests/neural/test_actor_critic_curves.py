"""The learning-curve resampling of notebooks 05-07: no invented return before the first log."""

import numpy as np

from rlhf_edu.viz.neural import curve_on_grid


def test_curve_on_grid_is_nan_before_the_first_logged_return_not_zero():
    got = curve_on_grid([15, 25, 30], [None, 4.0, 6.0], [10, 20, 30, 40])
    assert np.isnan(got[:2]).all()  # nothing ended by step 20 (the None is no episode)
    np.testing.assert_allclose(got[2:], [5.0, 5.0])
