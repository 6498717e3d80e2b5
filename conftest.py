"""Project-wide pytest options: ``--submission NOTEBOOK`` and ``--graded-seed N``.

``pytest --submission notebooks/03-td-control.ipynb`` runs that notebook's graded tests against
the functions the notebook defines instead of the reference implementations (see
``rlhf_edu.grading.pytest_plugin``).
"""

from rlhf_edu.grading.pytest_plugin import (  # noqa: F401 - pytest hooks
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_report_header,
)
