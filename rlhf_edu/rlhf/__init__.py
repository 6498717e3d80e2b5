"""The RLHF track: a tiny GPT-2, preferences, reward models, PPO for language models, DPO."""

# part 1: corpus, tiny LM, preferences, reward model
from rlhf_edu.rlhf.corpus import generate_corpus, sample_prompts  # noqa: E402, F401
from rlhf_edu.rlhf.lm import default_cache_dir, load_lm, load_tiny_lm  # noqa: E402, F401
from rlhf_edu.rlhf.preferences import (  # noqa: E402, F401
    PreferencePair,
    bayes_optimal_accuracy,
    get_labeler,
    read_preferences,
    write_preferences,
)
from rlhf_edu.rlhf.reward_model import (  # noqa: E402, F401
    RewardModel,
    bradley_terry_loss,
    load_default_reward_model,
    pairwise_accuracy,
    train_reward_model,
)

# isort: split
# part 2: PPO for language models, DPO, best-of-n
from rlhf_edu.rlhf.best_of_n import best_of_n, best_of_n_kl  # noqa: E402, F401
from rlhf_edu.rlhf.dpo import DPOConfig, dpo_loss, train_dpo  # noqa: E402, F401
from rlhf_edu.rlhf.kl_control import (  # noqa: E402, F401
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_update,
)
from rlhf_edu.rlhf.ppo import (  # noqa: E402, F401
    RLHFPPOConfig,
    RLHFPPOTrainer,
    clipped_policy_loss,
    clipped_value_loss,
    kl_penalized_rewards,
    token_gae,
    whiten,
)
