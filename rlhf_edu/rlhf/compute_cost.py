"""What compute and labels cost: FLOPs, seconds, joules and person-hours, with stated sources.

FLOPs are counted, not estimated: ``count_flops`` runs a function under
``torch.utils.flop_counter.FlopCounterMode``, which adds up the floating-point operations of the
matrix multiplications and attention (``mm``, ``addmm``, ``bmm``, scaled dot-product attention,
convolutions) in the forward *and* the backward pass. A multiply-add counts 2, so

    y = x W^T + b,  x: (batch, in),  W: (out, in)
    forward  FLOPs = 2 * batch * in * out                (the bias add is not counted)
    backward FLOPs = 2 * batch * in * out  (dL/dx = dL/dy W)
                   + 2 * batch * in * out  (dL/dW = dL/dy^T x)

so a training step of a linear layer is ``6 * batch * in * out``, the "6 N per token" rule of
Kaplan et al. (2020). Element-wise operations (activations, layer norms, softmax, the optimizer)
are not counted: in a transformer they are a few per cent of the total.

Energy is power times time; both powers below are stated assumptions, not measurements:

    E_cpu  = P_core * t_cpu                   (t_cpu: the process's CPU time, all its threads)
    E_H100 >= P_H100 * FLOPs / peak_H100      (a lower bound: the FLOPs at the H100's peak rate)

- ``CPU_WATTS = 65 / 6``, about 10.8 W per busy core: the default TDP of a desktop CPU, the AMD
  Ryzen 5 5600X (65 W, 6 cores; AMD's product specifications), shared equally by its cores. CPU
  time rather than wall time, so that other jobs on a shared machine do not inflate the energy;
  a laptop core draws less, and idle parts of the machine (memory, disks, fans) are not counted.
  Pass your own.
- ``H100_WATTS = 700`` and ``H100_PEAK_FLOPS = 989e12``: the NVIDIA H100 SXM5's maximum thermal
  design power and its dense BF16 tensor-core peak (NVIDIA H100 Tensor Core GPU datasheet; the
  often-quoted 1,979 TFLOPS assume 2:4 sparsity). A model as small as the course's reaches a
  small fraction of that peak, so the real energy on an H100 is higher than the bound.

People cost time and money:

    person-seconds = labels * seconds per label           (``feedback.cost.label_seconds``)
    person cost    = person-seconds / 3600 * hourly wage

- ``WAGE_USD_PER_HOUR = 7.25``: the United States federal minimum wage (Fair Labor Standards
  Act, unchanged since 24 July 2009; U.S. Department of Labor). A floor: annotation vendors
  and crowdsourcing platforms advise paying more, and experts cost far more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.flop_counter import FlopCounterMode

from rlhf_edu.utils.validation import check_float

__all__ = [
    "CPU_WATTS",
    "CPU_WATTS_SOURCE",
    "H100_PEAK_FLOPS",
    "H100_SOURCE",
    "H100_WATTS",
    "WAGE_SOURCE",
    "WAGE_USD_PER_HOUR",
    "count_flops",
    "cpu_energy",
    "h100_energy_lower_bound",
    "linear_training_flops",
    "person_cost",
]

CPU_WATTS = 65.0 / 6
CPU_WATTS_SOURCE = (
    "assumption: per busy core, the default TDP of a desktop CPU shared by its cores (AMD Ryzen 5 "
    "5600X: 65 W, 6 cores; AMD product specifications)"
)
H100_WATTS = 700.0
H100_PEAK_FLOPS = 989e12
H100_SOURCE = (
    "NVIDIA H100 Tensor Core GPU datasheet (SXM5): 700 W maximum TDP, 989 TFLOPS dense BF16"
)
WAGE_USD_PER_HOUR = 7.25
WAGE_SOURCE = "US federal minimum wage (Fair Labor Standards Act; US Department of Labor)"


def count_flops(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()`` under ``FlopCounterMode``; return ``(its result, FLOPs counted)``.

    Counts the matrix multiplications of every forward and backward pass ``fn`` runs (see the
    module docstring); a run without gradients counts the forward passes only.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {fn!r}")
    counter = FlopCounterMode(display=False)
    with counter:
        result = fn()
    return result, int(counter.get_total_flops())


def linear_training_flops(batch: int, in_features: int, out_features: int) -> int:
    """``6 * batch * in * out``: one forward and backward pass of a linear layer (module docstring)."""
    return 6 * batch * in_features * out_features


def cpu_energy(seconds: float, watts: float = CPU_WATTS) -> float:
    """``watts * seconds``, in joules (``seconds`` of CPU time, ``watts`` per busy core)."""
    seconds = check_float("seconds", seconds, 0.0)
    return check_float("watts", watts, 0.0, low_open=True) * seconds


def h100_energy_lower_bound(
    flops: float, watts: float = H100_WATTS, peak_flops: float = H100_PEAK_FLOPS
) -> float:
    """``watts * flops / peak_flops``, in joules: the energy at the peak rate (a lower bound)."""
    flops = check_float("flops", flops, 0.0)
    watts = check_float("watts", watts, 0.0, low_open=True)
    return watts * flops / check_float("peak_flops", peak_flops, 0.0, low_open=True)


def person_cost(person_seconds: float, wage_per_hour: float = WAGE_USD_PER_HOUR) -> float:
    """``person_seconds / 3600 * wage_per_hour``: what the labelling time costs."""
    person_seconds = check_float("person_seconds", person_seconds, 0.0)
    return person_seconds / 3600.0 * check_float("wage_per_hour", wage_per_hour, 0.0)
