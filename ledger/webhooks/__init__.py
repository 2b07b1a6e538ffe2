"""Magic Hour's webhooks, as it sends them (reference ``magic-hour-pricing.md`` §4).

- :mod:`~ledger.webhooks.signing`: the HMAC-SHA256 signature over ``"{timestamp}.{raw body}"``,
  checked before anything is parsed, and made the same way for the relay;
- :mod:`~ledger.webhooks.inbox`: a verified call is kept (the inbox) before it is answered, then
  processed once per (event, project, status): a terminal payload settles its job, a project no
  job owns is bypass spend, and the event is queued for the team that owns it;
- :mod:`~ledger.webhooks.relay`: each team's own URL and secret, and the durable outbox that
  delivers its events with backoff, at least once.
"""
