import random

import numpy as np
import pytest
import torch

from rlhf_edu.utils import check_seed, seed_everything


def _draw() -> tuple[float, np.ndarray, torch.Tensor]:
    layer = torch.nn.Linear(8, 4)
    return random.random(), np.random.rand(5), layer(torch.randn(3, 8))


def test_same_seed_gives_identical_python_numpy_and_torch_numbers():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    second = _draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2])


def test_different_seeds_give_different_numbers():
    seed_everything(1)
    first = _draw()
    seed_everything(2)
    second = _draw()
    assert not np.array_equal(first[1], second[1])
    assert not torch.equal(first[2], second[2])


def test_seed_everything_fixes_thread_count_and_deterministic_algorithms():
    seed_everything(0)
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    seed_everything(0, num_threads=2)
    assert torch.get_num_threads() == 2
    seed_everything(0)


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_out_of_range_seed_is_rejected(bad):
    with pytest.raises(ValueError, match="seed must be in"):
        seed_everything(bad)


@pytest.mark.parametrize("bad", [1.0, "3", None, True])
def test_non_int_seed_is_rejected(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        check_seed(bad)


def test_numpy_integer_seed_is_accepted():
    assert check_seed(np.int64(7)) == 7
