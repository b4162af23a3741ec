-- The portal's "Your sessions and devices" (issue 12) lists a user's signed-in browsers with where they signed in
-- from, and signs them out: an index by user, and the client address at sign-in (IPv6 as its /64).
CREATE INDEX browser_sessions_user ON browser_sessions (realm, user_id);
ALTER TABLE browser_sessions ADD COLUMN address TEXT;
