"""Daily reconciliation with VTPass (issue 13): does VTPass agree with every final purchase?

`reconcile` requeries each purchase that became final (delivered, failed, reversed) in a
window, compares status and amount with what PayLink recorded (`compare`), and stores a
report (`reconciliation_runs` + `reconciliation_findings`, shown by `report`). A delivered
purchase that VTPass shows reversed or failed is reversed through the state machine, so the
customer is refunded once; every other disagreement is reported for an operator, and alerted
(ERROR log, `paylink_reconciliation_disagreements_total`). Runs are rate-limited, resumable
and exclusive (`run`). Started by `python -m shared.reconcile --since 24h` or the beat.
"""

from shared.reconcile.compare import Comparison, Finding, compare
from shared.reconcile.run import (
    Pacer,
    RunInProgress,
    RunSummary,
    next_window_start,
    reconcile,
    unfinished_run,
)

__all__ = [
    "Comparison",
    "Finding",
    "Pacer",
    "RunInProgress",
    "RunSummary",
    "compare",
    "next_window_start",
    "reconcile",
    "unfinished_run",
]
