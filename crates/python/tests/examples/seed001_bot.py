"""Seed 001 (AI-on-Demand docs), "Bot Authentication Flow Example", with only the import changed. Run in a
directory holding `secret.toml` (`client_secret = "..."`)."""

from pathlib import Path

import keyport as aiod

CLIENT_ID = "pipeline-bot"

aiod.config.client_id = CLIENT_ID
token = aiod.authentication.Token.from_file(Path("secret.toml"))
# or:
# token = aiod.authentication.Token(client_secret=...)
aiod.authentication.set_token(token)
print(aiod.get_current_user())
