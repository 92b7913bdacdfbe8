"""Volume control: what is held back before an event is built (sampling,
de-duplication, rate caps per event and per user), and the logs lane's window cap.

Nothing is imported here: each module is imported by name, so that importing one does
not import the others.
"""
