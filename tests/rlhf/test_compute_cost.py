"""Counting FLOPs, energy and person cost: the counter matches the textbook formulas."""

from __future__ import annotations

import pytest
import torch

from rlhf_edu.rlhf.compute_cost import (
    CPU_WATTS,
    H100_PEAK_FLOPS,
    H100_WATTS,
    count_flops,
    cpu_energy,
    h100_energy_lower_bound,
    linear_training_flops,
    person_cost,
)


def test_a_matmul_counts_two_flops_per_multiply_add():
    a, b = torch.randn(5, 7), torch.randn(7, 3)
    product, flops = count_flops(lambda: a @ b)
    assert flops == 2 * 5 * 7 * 3
    torch.testing.assert_close(product, a @ b)


def test_a_linear_layers_forward_and_backward_count_six_batch_in_out():
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 8)
    x = torch.randn(4, 16, requires_grad=True)
    _, forward = count_flops(lambda: layer(x))
    assert forward == 2 * 4 * 16 * 8  # the bias add is not a matmul

    def step():
        layer(x).sum().backward()

    _, training = count_flops(step)
    assert training == linear_training_flops(4, 16, 8) == 6 * 4 * 16 * 8
    assert x.grad is not None and layer.weight.grad is not None


def test_without_gradients_only_the_forward_pass_is_counted():
    layer = torch.nn.Linear(16, 8)
    with torch.no_grad():
        _, flops = count_flops(lambda: layer(torch.randn(4, 16)))
    assert flops == 2 * 4 * 16 * 8


def test_energy_and_person_cost_are_power_times_time_and_wage_times_hours():
    assert cpu_energy(10.0) == pytest.approx(10.0 * CPU_WATTS)
    assert cpu_energy(2.0, watts=15.0) == pytest.approx(30.0)
    assert h100_energy_lower_bound(H100_PEAK_FLOPS) == pytest.approx(H100_WATTS)  # one second
    assert h100_energy_lower_bound(1e12, watts=100.0, peak_flops=1e12) == pytest.approx(100.0)
    assert person_cost(3600.0) == pytest.approx(7.25)
    assert person_cost(1800.0, wage_per_hour=20.0) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: cpu_energy(-1.0), "seconds"),
        (lambda: cpu_energy(1.0, watts=0.0), "watts"),
        (lambda: h100_energy_lower_bound(-5.0), "flops"),
        (lambda: h100_energy_lower_bound(5.0, peak_flops=0.0), "peak_flops"),
        (lambda: person_cost(-1.0), "person_seconds"),
        (lambda: person_cost(1.0, wage_per_hour=-2.0), "wage_per_hour"),
        (lambda: count_flops(42), "fn"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()
