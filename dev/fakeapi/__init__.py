"""A small, deterministic fake of the SaaS source APIs, for local dev, demos and tests.

``seed`` builds the data, ``app`` answers requests without any I/O, ``server`` puts ``app`` behind
a loopback HTTP server, and ``python -m dev.fakeapi`` runs that server in the foreground.
Standard library only.
"""
