-- A client may override its realm's ID-token algorithm (Keycloak's per-client "ID Token Signature Algorithm").
ALTER TABLE clients ADD COLUMN id_token_alg TEXT;
