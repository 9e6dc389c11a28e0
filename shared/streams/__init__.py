"""Live status: status changes published to Redis after commit, and the streams built on them.

PostgreSQL stays the truth. A pub/sub message only says "look again": a stream reads what
changed from PostgreSQL (history rows after the last one it sent, events after the last
number), so a message lost with Redis delays an event and never loses it, and a client that
reconnects with `Last-Event-ID` is given everything it missed.

- `publish`: what `transition` noted is published once the transaction has committed.
- `hub`: one pub/sub connection per process, shared by every open stream in it.
- `feed`: the stream of one purchase, and the stream of one user's events.
- `limits`: how many streams one user may hold open.
"""
