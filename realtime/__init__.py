"""The real-time engine: who watches which channel, how a frame reaches them, what a reader may trust.

Apps reach it through ``realtime.api`` only. Inside: ``hub`` (per-process fan-out, channel logs,
subscriptions), ``feeds`` (the database logs apps register per channel kind), ``frames`` (the SSE
encoding), ``versions`` (freshness of ready-made answers), ``slots`` and ``waits`` (how many streams
and waits a client may hold), and ``backends`` (in-process or Redis, chosen once from settings).
"""
