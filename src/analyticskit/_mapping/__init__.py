"""The mapping: where a log record or a ``capture_event`` call becomes a snapshot on the
caller's thread, and that snapshot an event (or, for the logs lane, a log) on the worker:
the message, its event name, type, relevancy and level, an exception's properties.

Nothing is imported here: each module is imported by name, so that importing one does
not import the others.
"""
