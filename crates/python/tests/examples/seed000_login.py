"""Seed 000 (AI-on-Demand), "Authentication Flow Example", with only the import changed."""

import keyport as aiod

aiod.create_token(write_to_file=True)
print(aiod.get_current_user())
# returns: User(name='...', roles=('...', ...))
