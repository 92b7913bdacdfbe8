"""The delivery engine: a bounded buffer and one worker per lane, what every event goes
through on the worker before it leaves (scrubbing, the bounded walk, ``before_send``),
its fate counted, and what happens at fork, exit and SIGTERM.

Nothing is imported here: each module is imported by name, so that importing one does
not import the others.
"""
