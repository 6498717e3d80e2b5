"""rlhf_edu: a teaching toolkit and course, from a Q-table to RLHF on GPT-2.

Tracks (import the one you are studying; each is plain, readable code):

- ``rlhf_edu.envs``     toy environments (gymnasium API) and ``TabularMDP``
- ``rlhf_edu.core``     the math two tracks share: epsilon-greedy and its schedules, returns and GAE
- ``rlhf_edu.tabular``  bandits, dynamic programming, Monte Carlo, SARSA / Q-learning / Double Q
- ``rlhf_edu.neural``   returns and GAE, REINFORCE, actor-critic, PPO, DQN in PyTorch
- ``rlhf_edu.rlhf``     a tiny GPT-2, preferences, reward models, PPO for language models, DPO
- ``rlhf_edu.grading``  notebook authoring, student versions and a sandboxed autograder
- ``rlhf_edu.viz``      the course's plots
- ``rlhf_edu.utils``    seeding, atomic checkpoints, metric history, progress bars, validation
- ``rlhf_edu.data``     stored results and pretrained agents that ship with the package
- ``rlhf_edu.app``      the application on top: the ``rlhf-edu`` command line, the demo, the
  train commands and experiment runners (the library never imports it)
"""

__version__ = "0.1.0"
