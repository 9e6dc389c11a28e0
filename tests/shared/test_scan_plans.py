"""The sweeper's and the callback path's scans use indexes, not a scan of every purchase.

100k purchases (almost all final, one in ten failed, as in a live database) and 100k handled
callbacks are inserted with generate_series, the tables analysed, and each query's plan must
not read the big table sequentially. The SQL mirrors shared/purchases/sweeper.py and
shared/callbacks/.
"""

from __future__ import annotations

import psycopg
import pytest

ROWS = 100_000

SETUP = f"""
INSERT INTO users (id, email, password_hash, role, event_seq, created_at)
VALUES ('usr_plan', 'plan@example.com', 'x', 'user', 0, now());
INSERT INTO purchases (id, user_id, status, category, service_id, amount, phone, request_id,
    superseded_request_ids, pay_attempts, requery_attempts, version, created_at, updated_at,
    next_attempt_at, pending_since, completed_at)
SELECT 'pur_' || g, 'usr_plan',
    CASE WHEN g % 1000 = 0 THEN 'pending' WHEN g % 1000 = 1 THEN 'queued'
         WHEN g % 1000 = 2 THEN 'processing' WHEN g % 10 = 5 THEN 'failed'
         ELSE 'delivered' END,
    'airtime', 'mtn', 100, '08011111111', 'req_' || g,
    CASE WHEN g % 500 = 0 THEN jsonb_build_array('old_' || g) ELSE '[]'::jsonb END,
    1, 0, 1, now(), now(),
    CASE WHEN g % 1000 < 3 THEN now() - interval '1 minute' END,
    CASE WHEN g % 1000 = 0 THEN now() - interval '1 hour' END,
    CASE WHEN g % 1000 >= 3 THEN now() END
FROM generate_series(1, {ROWS}) g;
INSERT INTO vtpass_callbacks (body_hash, request_id, body, received_at, times_received,
    handled_at)
SELECT md5(g::text), 'req_' || g, '{{}}'::jsonb, now() - interval '1 hour', 1,
    CASE WHEN g % 1000 = 0 THEN NULL ELSE now() END
FROM generate_series(1, {ROWS}) g;
ANALYZE purchases;
ANALYZE vtpass_callbacks;
"""

QUERIES = {
    # sweeper._due: queued / pending purchases whose next step is due.
    "sweeper due queued": """
        SELECT id FROM purchases WHERE status = 'queued' AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT 100""",
    # sweeper._taken_up_to: the newest purchase the workers took (a backward scan of the key).
    "sweeper queue position": """
        SELECT created_at, coalesce(last_pay_at, updated_at) FROM (
            SELECT id, status, created_at, last_pay_at, updated_at FROM purchases
            ORDER BY id DESC LIMIT 10000) recent
        WHERE status <> 'queued' ORDER BY id DESC LIMIT 1""",
    "sweeper due pending": """
        SELECT id FROM purchases WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT 100""",
    # sweeper: processing purchases whose lease ran out.
    "sweeper stale processing": """
        SELECT * FROM purchases WHERE status = 'processing' AND next_attempt_at <= now()
        LIMIT 100 FOR UPDATE SKIP LOCKED""",
    # sweeper._review_overdue: pending past the requery deadline.
    "sweeper overdue pending": """
        SELECT * FROM purchases WHERE status = 'pending'
        AND pending_since <= now() - interval '30 minutes'
        LIMIT 100 FOR UPDATE SKIP LOCKED""",
    # callbacks: the purchase a notice names, by its request id or a superseded one.
    "callback lookup": """
        SELECT id, status FROM purchases
        WHERE request_id = 'req_77' OR superseded_request_ids @> '["req_77"]'::jsonb""",
    # callbacks.unhandled: notices still waiting for a requery.
    "callbacks unhandled": """
        SELECT DISTINCT purchases.id FROM purchases
        JOIN vtpass_callbacks ON vtpass_callbacks.request_id = purchases.request_id
        WHERE vtpass_callbacks.handled_at IS NULL
        AND vtpass_callbacks.received_at < now() - interval '1 minute'
        AND purchases.status IN ('processing', 'pending')
        LIMIT 500""",
    # followups.due: open notices due a follow-up, about a purchase's id or a superseded one.
    "notice follow-ups due": """
        SELECT vtpass_callbacks.id, purchases.id FROM vtpass_callbacks
        JOIN purchases ON purchases.request_id = vtpass_callbacks.request_id
            OR purchases.superseded_request_ids @> jsonb_build_array(vtpass_callbacks.request_id)
        WHERE vtpass_callbacks.handled_at IS NULL
        AND purchases.status IN ('pending', 'review', 'delivered')
        AND (vtpass_callbacks.next_followup_at IS NULL
             AND vtpass_callbacks.received_at < now() - interval '1 minute'
             OR vtpass_callbacks.next_followup_at <= now())
        ORDER BY vtpass_callbacks.id LIMIT 500
        FOR UPDATE OF vtpass_callbacks SKIP LOCKED""",
    # followups._close_on_undone: open notices about failed or reversed purchases.
    "notices about undone purchases": """
        SELECT vtpass_callbacks.id, purchases.id FROM vtpass_callbacks
        JOIN purchases ON purchases.request_id = vtpass_callbacks.request_id
            OR purchases.superseded_request_ids @> jsonb_build_array(vtpass_callbacks.request_id)
        WHERE vtpass_callbacks.handled_at IS NULL
        AND vtpass_callbacks.received_at < now() - interval '1 minute'
        AND purchases.status IN ('failed', 'reversed')
        ORDER BY vtpass_callbacks.id LIMIT 500
        FOR UPDATE OF vtpass_callbacks SKIP LOCKED""",
}


@pytest.fixture(scope="module")
def big_database(pg_admin_url):
    import os
    import uuid

    from standalone import services
    from tests.conftest import migrated_database

    name = f"paylink_plans_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = migrated_database(pg_admin_url, name)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(SETUP)
    yield url.replace("postgresql+psycopg://", "postgresql://")
    services.drop_database(pg_admin_url, name)


@pytest.mark.parametrize("name", QUERIES)
def test_scan_uses_an_index_at_100k_rows(big_database, name):
    with psycopg.connect(big_database) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + QUERIES[name]))
    assert "Seq Scan on purchases" not in plan, plan
    assert "Seq Scan on vtpass_callbacks" not in plan, plan
