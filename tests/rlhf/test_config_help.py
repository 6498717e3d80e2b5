"""Every field of the RLHF configs carries its help text (``metadata["help"]``, shown by the
train commands' ``--help``), and the configs validate with TypeError / ValueError."""

from __future__ import annotations

import pytest

from rlhf_edu.rlhf.dpo import DPOConfig
from rlhf_edu.rlhf.ppo import RLHFPPOConfig
from rlhf_edu.rlhf.reward_model import RewardModelConfig
from rlhf_edu.utils.validation import field_help


@pytest.mark.parametrize("config", [RLHFPPOConfig, DPOConfig, RewardModelConfig])
def test_every_config_field_has_help_text(config):
    missing = [name for name, text in field_help(config).items() if not text.strip()]
    assert missing == [], f"{config.__name__} fields without help: {missing}"


@pytest.mark.parametrize(
    "config, field, value, error",
    [
        (RLHFPPOConfig, "batch_size", 2.0, TypeError),
        (RLHFPPOConfig, "learning_rate", "fast", TypeError),
        (RLHFPPOConfig, "early_stop_kl", 0.0, ValueError),
        (RLHFPPOConfig, "precision", "fp8", ValueError),
        (DPOConfig, "epochs", True, TypeError),
        (DPOConfig, "beta", -1.0, ValueError),
        (RewardModelConfig, "eval_fraction", 1.0, ValueError),
    ],
)
def test_configs_raise_type_and_range_errors_naming_the_field(config, field, value, error):
    with pytest.raises(error, match=field):
        config(**{field: value})
