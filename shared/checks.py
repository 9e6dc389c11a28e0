"""Operator command: check the ledger invariants on a live database.

    DATABASE_URL=... python -m shared.checks

Exits 0 when the books balance, 1 (listing every problem) when they do not.
"""

from __future__ import annotations

import sys

from shared.config import load_settings
from shared.db import Database
from shared.ledger import check_invariants


def main() -> int:
    """Run every invariant check and print the result."""
    db = Database(load_settings().database_url, pool_size=1, max_overflow=0)
    with db.sessions() as session, session.begin():
        # One snapshot, so concurrent purchases cannot make a consistent ledger look broken.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        problems = check_invariants(session)
    if problems:
        print(f"{len(problems)} ledger problem(s):")
        for problem in problems:
            print(f"- {problem}")
        return 1
    print("ledger ok: journals balance, balances equal their postings, no wallet negative,")
    print("one hold and at most one capture-or-release per purchase")
    return 0


if __name__ == "__main__":
    sys.exit(main())
