"""The course's plots. Every function returns the matplotlib Figure; ``save_figure`` writes PNG.

Track-specific plots live beside the general ones: ``rlhf_edu.viz.tabular``,
``rlhf_edu.viz.neural``, ``rlhf_edu.viz.rlhf``.
"""

from rlhf_edu.viz.curves import plot_learning_curves, smooth
from rlhf_edu.viz.figures import save_figure
from rlhf_edu.viz.grid import plot_policy_arrows, plot_value_heatmap

__all__ = [
    "plot_learning_curves",
    "plot_policy_arrows",
    "plot_value_heatmap",
    "save_figure",
    "smooth",
]
