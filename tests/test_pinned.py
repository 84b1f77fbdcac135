"""The restructured pipeline draws exactly what it drew before (tests/pinned_jobs.py)."""

import numpy as np
import pytest

from tests.pinned_jobs import PINNED, pinned_outputs


@pytest.fixture(scope="module")
def outputs():
    return pinned_outputs()


@pytest.mark.parametrize("name", sorted(np.load(PINNED).files))
def test_outputs_are_pixel_identical_to_the_pinned_ones(outputs, name):
    expected = np.load(PINNED)[name]
    got = outputs[name]
    assert got.shape == expected.shape
    differing = np.count_nonzero(got != expected)
    largest = np.abs(got.astype(int) - expected).max()
    assert differing == 0, f"{name}: {differing} of {got.size} values differ, max {largest}"


def test_the_jobs_are_not_trivial():
    pinned = np.load(PINNED)
    # Matching the input changes the picture; the two samples differ: the pins can tell stages apart.
    assert np.count_nonzero(pinned["center"] != pinned["center_raw"]) > 1000
    assert np.count_nonzero(pinned["top_two_samples"][0] != pinned["top_two_samples"][1]) > 1000
