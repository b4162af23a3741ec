"""Starts a device login and waits: the test presses Ctrl-C (SIGINT) while it waits."""

import time

import keyport as aiod

started = time.monotonic()
try:
    aiod.create_token(timeout_seconds=120)
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.1f}s", flush=True)
    raise
