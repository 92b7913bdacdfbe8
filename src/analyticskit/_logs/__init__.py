"""The logs lane's way out: its records encoded as OTLP and sent over HTTP to PostHog
Logs, answers read as PostHog's SDK logs specification says.

Nothing is imported here: each module is imported by name, so that importing one does
not import the others (the core imports `otlp_http` alone, to check an endpoint).
"""
