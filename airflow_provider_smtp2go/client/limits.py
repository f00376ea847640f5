"""SMTP2GO's numbers, and ours, in one place.

Every module that needs one of these imports it from here, so that a change to SMTP2GO's
limits is a one-line change. Sources: ``shared/reference/smtp2go_api.md``.

>>> ACTIVITY_REQUESTS_PER_MINUTE, MAX_RECIPIENTS_PER_FIELD, IP_TIMEOUT_SECONDS
(60, 100, 60.0)
"""

from __future__ import annotations

from datetime import timedelta

#: ``/activity/search`` accepts at most this many requests a minute per account.
ACTIVITY_REQUESTS_PER_MINUTE = 60
#: The window of that limit, in seconds.
ACTIVITY_PERIOD_SECONDS = 60.0
#: The largest ``limit`` (events per page) ``/activity/search`` accepts.
MAX_ACTIVITY_PAGE_SIZE = 1000

#: At most this many addresses in each of ``to``, ``cc`` and ``bcc``.
MAX_RECIPIENTS_PER_FIELD = 100
#: An email's total size limit, base64-encoded attachments included (configurable per client).
DEFAULT_MAX_SIZE_BYTES = 10 * 1024 * 1024
#: A scheduled send must be due within this long ("in the future and within the next 3 days").
MAX_SCHEDULE_AHEAD = timedelta(days=3)

#: After a 429 SMTP2GO times the calling IP out for at least this long: retrying sooner only
#: extends the ban. The first wait after a 429 without a usable ``Retry-After``.
IP_TIMEOUT_SECONDS = 60.0
#: Waits after repeated 429s double from ``IP_TIMEOUT_SECONDS`` up to this.
RATE_LIMIT_BACKOFF_MAX = 300.0
#: A ``Retry-After`` (or ``X-RateLimit-Reset``) longer than this is clamped to it. A caller's own
#: deadline bounds every wait anyway; this bounds what a process-wide limiter may impose.
MAX_RETRY_AFTER = 900.0

#: Seconds to establish a TCP+TLS connection.
CONNECT_TIMEOUT = 5.0
#: Seconds without a byte from the server before a read gives up.
READ_TIMEOUT = 30.0
DEFAULT_TIMEOUT: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)

#: The default retry budget: attempts, and a wall-clock deadline for the whole call.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_DEADLINE = 300.0
