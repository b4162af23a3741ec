"""The examples (each seed's documented code) and the package pass `mypy --strict` with the shipped stubs,
and `help()` shows the documentation."""

from __future__ import annotations

import pydoc
import subprocess
import sys

import keyport
from conftest import EXAMPLES


def test_examples_and_package_pass_mypy_strict() -> None:
    for target in (["-p", "keyport"], [str(EXAMPLES)]):
        r = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *target],
            capture_output=True, text=True, timeout=600,
        )
        assert r.returncode == 0, r.stdout + r.stderr


def test_help_renders_the_docstrings() -> None:
    text = pydoc.render_doc(keyport, renderer=pydoc.plaintext)
    assert "AuthenticationError" in text and "create_token" in text
    assert "Get an API key by prompting the user to log in through a browser" in pydoc.render_doc(keyport.create_token)
    assert "Where to sign in" in pydoc.render_doc(keyport.Config)
    assert "admin API" in pydoc.render_doc(keyport.admin)
