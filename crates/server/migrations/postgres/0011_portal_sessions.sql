-- The portal's "Your sessions and devices" (issue 12) lists and signs out a user's signed-in browsers.
CREATE INDEX browser_sessions_user ON browser_sessions (realm, user_id);
