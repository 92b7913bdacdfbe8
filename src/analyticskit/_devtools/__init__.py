"""The developer tools: the dev server (``analyticskit dev``) with its SQLite store, its
OTLP logs decoder and its viewer, ``analyticskit check``, and PostHog's capture contract
that the dev server and the tests' capture server both follow.

Nothing is imported here: each module is imported by name, so that importing one does
not import the others.
"""
