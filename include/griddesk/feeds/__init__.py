"""Operational feeds beyond ENTSO-E: CKW dynamic tariffs, plant telemetry and TRA control signals, weather,
battery (BMS) status, meter consumption, and the API call log behind ``fct_api_health``.

Each concern lives apart, as for ENTSO-E:

- ``http``: one HTTP base for every feed (bounded retries, backoff with jitter, Retry-After, ``x-ratelimit-*``,
  OAuth2 bearer tokens refreshed before expiry and once on a 401) that logs every call (never the token);
- ``ckw``, ``weather``, ``battery``, ``meters``: a client (HTTP, auth, paging) and pure parsers (payload -> columns);
- ``batch``: schema-drift checks, duplicate removal and gap detection on parsed columns;
- ``loader``: binary COPY of a whole batch in one transaction, with content-hash versions;
- ``store``: the other SQL of the feeds' raw tables (reference rows, the call log, point-in-time reads);
- ``retention``: 5-minute telemetry and the call log folded into hourly aggregates after N days;
- ``tasks``: the bodies of the feed tasks (``griddesk_feeds``, ``griddesk_plant_telemetry``).

See docs/feeds.md.
"""
