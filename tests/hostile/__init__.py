"""Hostile input: every bad file, flag or id gets one `Error: ...` line and exit 2.

Never a traceback, never anything on stdout, never a write to an input file. Exit 3
(internal error) in here is a bug in emb, not an outcome to accept.

One module per thing attacked; the shared machinery is in tests/helpers/hostile.py.
"""
