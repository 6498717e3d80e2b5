"""KL controllers: how strongly the reward pulls the policy back toward the reference model.

The RLHF reward of a response is the reward-model score minus ``beta`` times the KL divergence
from the reference (the model before fine-tuning). A fixed ``beta`` is hard to choose; Ziegler et
al. (2019, "Fine-tuning language models from human preferences", section 2.2) adapt it to hold
the KL near a target::

    e_t        = clip(KL_t / KL_target - 1, -0.2, 0.2)      (proportional error, clipped)
    beta_{t+1} = beta_t * (1 + K_beta * e_t * n_t)           with K_beta = 1 / horizon

where ``n_t`` is the number of episodes (responses) in update ``t``. KL above target raises
``beta`` (more pull toward the reference); KL below target lowers it. The step is small: over
one ``horizon`` of episodes at the largest error, ``beta`` moves by a factor of about
``e^0.2 = 1.22`` up (or ``e^-0.2 = 0.82`` down), since ``(1 + 0.2 n / H)^(H / n) -> e^0.2``;
moving ``beta`` ``e``-fold takes five horizons.
"""

from __future__ import annotations

from rlhf_edu.utils.validation import check_float, check_int


def _check_positive(name: str, value: float) -> float:
    return check_float(name, value, 0.0, None, low_open=True)


def adaptive_kl_update(
    kl_coef: float, current_kl: float, kl_target: float, horizon: float, n_steps: int
) -> float:
    """One step of Ziegler et al.'s controller: the new ``beta`` after an update that saw
    ``n_steps`` episodes with mean KL ``current_kl``::

        beta * (1 + clip(current_kl / kl_target - 1, -0.2, 0.2) * n_steps / horizon)
    """
    check_float("current_kl", current_kl)
    check_int("n_steps", n_steps, 0)
    _check_positive("kl_target", kl_target)
    _check_positive("horizon", horizon)
    proportional_error = min(max(current_kl / kl_target - 1.0, -0.2), 0.2)
    return kl_coef * (1.0 + proportional_error * n_steps / horizon)


class FixedKLController:
    """A constant KL coefficient ``beta`` (``beta = 0`` switches the penalty off)."""

    def __init__(self, kl_coef: float) -> None:
        self.value = check_float("kl_coef", kl_coef, 0.0)

    def update(self, current_kl: float, n_steps: int) -> float:
        return self.value

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])


class AdaptiveKLController(FixedKLController):
    """Ziegler et al. (2019): ``beta *= 1 + clip(KL / target - 1, -0.2, 0.2) * n_steps / horizon``.

    Args:
        init_kl_coef: the starting ``beta`` (> 0; a zero coefficient could never grow).
        target: the KL (nats per response) to hold, > 0.
        horizon: in episodes, > 0. One horizon at the maximum error (``+/-0.2``) moves ``beta``
            by a factor of about ``e^0.2`` (1.22) up or ``e^-0.2`` (0.82) down, not ``e``.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        super().__init__(_check_positive("init_kl_coef", init_kl_coef))
        self.target = _check_positive("kl_target", target)
        self.horizon = _check_positive("kl_horizon", horizon)

    def update(self, current_kl: float, n_steps: int) -> float:
        """Move ``beta`` toward holding ``current_kl`` at the target; returns the new ``beta``."""
        self.value = adaptive_kl_update(self.value, current_kl, self.target, self.horizon, n_steps)
        return self.value
