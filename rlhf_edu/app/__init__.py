"""The application on top of the library: the ``rlhf-edu`` command line, the demo, the train
commands and the experiment runners. Nothing in the library imports this package.

- ``cli``              the argument parser of ``rlhf-edu`` (every subcommand declared in one place)
- ``demo``             ``rlhf-edu demo``: runs ``demo_tabular``, ``demo_neural``,
                       ``demo_reward_model`` and ``demo_ppo`` and writes ``summary.json``
- ``train_agent``      ``rlhf-edu train agent``
- ``rlhf_commands``    ``rlhf-edu train lm``, ``train reward-model`` and ``label``
- ``finetune``         ``rlhf-edu train rlhf`` and ``train dpo``
- ``ppo_experiment``   the 5-seed RLHF PPO experiment stored in ``rlhf_edu/data/ppo_curves.json``
"""
