"""Webhook delivery's building blocks, pure and tested before anything is wired to them.

- ``secrets``: endpoint signing secrets (``whsec_…``), encrypted at rest, masked in reprs;
- ``signing``: the Standard Webhooks v1 headers, and a verifier for our own use;
- ``ids``: the ``msg_…`` id of one event's delivery to one endpoint, the same on every attempt;
- ``targets``: the SSRF guard, at registration and again at connect time.

This package depends on ``kit`` only (settings, ids); a test holds it to that.
"""
