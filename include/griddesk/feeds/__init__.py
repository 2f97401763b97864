"""Operational feeds beyond ENTSO-E: CKW dynamic tariffs, plant telemetry and TRA control signals, weather,
battery (BMS) status, meter consumption, and the API call log behind ``fct_api_health``.

Each concern lives apart, as for ENTSO-E:

- ``http``: one HTTP base for every feed (bounded retries, backoff with jitter, Retry-After, ``x-ratelimit-*``,
  OAuth2 bearer tokens refreshed before expiry and once on a 401) that logs every call (never the token);
- ``ckw``, ``weather``, ``battery``, ``meters``: a client (HTTP, auth, paging) and pure parsers (payload -> columns);
- ``batch``: schema-drift checks, duplicate removal and gap detection on parsed columns;
- ``loader``: binary COPY of a whole batch in one transaction, with content-hash versions;
- ``retention``: 5-minute telemetry and the call log folded into hourly aggregates after N days.

See docs/feeds.md.
"""
