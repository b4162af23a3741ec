"""The browser login (authorization code + PKCE, as `keyport login --web`): prints the sign-in URL (the test opens
it), saves the token for later sessions, and shows who signed in."""

import keyport as aiod

aiod.create_token(method="browser", write_to_file=True, open_browser=False)
print(aiod.get_current_user())
