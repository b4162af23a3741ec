"""Where the device-login instructions are shown: Python's ``print``, so a notebook shows them too."""


def show(text: str) -> None:
    """Prints ``text`` (the instructions of a device login) and flushes, so it appears before the wait."""
    print(text, flush=True)
