"""The course's plots. Every function returns the matplotlib Figure; ``save_figure`` writes PNG.

Track-specific plots live beside the general ones: ``rlhf_edu.viz.tabular``,
``rlhf_edu.viz.neural``, ``rlhf_edu.viz.rlhf``. ``episode_gif`` animates a policy's episode
(``rlhf_edu.viz.episodes``).
"""

from rlhf_edu.viz.curves import plot_learning_curves, smooth
from rlhf_edu.viz.episodes import Episode, episode_gif, record_episode
from rlhf_edu.viz.figures import save_figure
from rlhf_edu.viz.grid import plot_policy_arrows, plot_value_heatmap

__all__ = [
    "Episode",
    "episode_gif",
    "plot_learning_curves",
    "plot_policy_arrows",
    "plot_value_heatmap",
    "record_episode",
    "save_figure",
    "smooth",
]
