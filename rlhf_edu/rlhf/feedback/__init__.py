"""Human feedback as it is collected: forms beyond pairs, and annotators who disagree.

- ``annotators``   synthetic annotators: pairs, thumbs, stars, rankings, comments, edits, clicks
- ``rankings``     the Plackett-Luce model of a ranking of k responses
- ``agreement``    Cohen's kappa and Krippendorff's alpha
- ``aggregation``  majority vote, soft labels and the Dawid-Skene annotator model
- ``records``      rating, ranking, comment and edit records and their JSON Lines files
- ``reward_models`` a reward model from each form: its likelihood, collection and fitting
- ``cost``         seconds per label of each form (a stated model with its sources)
- ``personalization`` users in groups with different utilities; a user-conditioned reward model
- ``classifier``   a topic classifier from labels vs from right/wrong answers (a contextual bandit)
"""

from rlhf_edu.rlhf.feedback.aggregation import dawid_skene, majority_vote, soft_labels
from rlhf_edu.rlhf.feedback.agreement import cohen_kappa, krippendorff_alpha
from rlhf_edu.rlhf.feedback.annotators import Annotator, Comment, annotator_pool
from rlhf_edu.rlhf.feedback.rankings import plackett_luce_loss, sample_ranking
from rlhf_edu.rlhf.feedback.records import (
    CommentRecord,
    EditRecord,
    FeedbackFileError,
    RankingRecord,
    RatingRecord,
    read_feedback,
    write_feedback,
)

__all__ = [
    "Annotator",
    "Comment",
    "CommentRecord",
    "EditRecord",
    "FeedbackFileError",
    "RankingRecord",
    "RatingRecord",
    "read_feedback",
    "write_feedback",
    "annotator_pool",
    "cohen_kappa",
    "dawid_skene",
    "krippendorff_alpha",
    "majority_vote",
    "plackett_luce_loss",
    "sample_ranking",
    "soft_labels",
]
