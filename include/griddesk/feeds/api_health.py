"""The API call log: every attempt of every feed client, stored in ``raw.api_call_log``.

``fct_api_health`` turns it into success rates and latency percentiles per endpoint and hour. What is stored is
the :class:`~griddesk.feeds.http.ApiCall` record: endpoint label, path, status, latency, bytes, error. No header,
query string, token or secret is ever part of it. The rows are written by
:func:`griddesk.feeds.store.write_call_log`.
"""

from __future__ import annotations

from griddesk.feeds.store import write_call_log

__all__ = ["write_call_log"]
