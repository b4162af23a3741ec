"""Starts a device login (or, with the argument `browser`, a browser login) and waits: the test presses Ctrl-C
(SIGINT) while it waits."""

import sys
import time

import keyport as aiod

started = time.monotonic()
try:
    if sys.argv[1:] == ["browser"]:
        aiod.create_token(timeout_seconds=120, method="browser", open_browser=False)
    else:
        aiod.create_token(timeout_seconds=120)
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.1f}s", flush=True)
    raise
