// oidc-provider (npm, the OpenID Certified Node.js server) as an upstream identity provider for
// crates/server/tests/federation_oidc_provider.rs. Listens on 127.0.0.1, port 0 (or PORT), and prints
// `oidc-provider listening on <issuer>` on stdout once it serves.
//
// One client, `keyport-down` (authorization_code, PKCE, client_secret_basic), whose redirect URI is the
// downstream keyport's broker endpoint on loopback: `application_type: native` makes oidc-provider accept it on any
// port (RFC 8252 §7.3), as keyport's own loopback redirect URIs do. Sign-in and consent are oidc-provider's dev
// interactions, which accept any login and password; the account's claims are derived from the login (`sub` is the
// login).
//
//   node server.mjs            (needs `npm ci` in this folder; scripts/install-test-deps.sh runs it)

import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const realm = process.env.DOWNSTREAM_REALM || 'web';
const alias = process.env.DOWNSTREAM_ALIAS || 'oidcp';
const secret = process.env.CLIENT_SECRET || 'oidc-provider-secret-0123456789-abcdef';

let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'keyport-down',
        client_secret: secret,
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`http://127.0.0.1/realms/${realm}/broker/${alias}/endpoint`],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'rs256', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        preferred_username: id,
        email: `${id}@oidc-provider.example`,
        email_verified: true,
        name: `${id} (oidc-provider)`,
      }),
    }),
    claims: {
      openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'],
    },
    // keyport's broker takes the account's claims from the ID token; oidc-provider by default puts the claims of
    // requested scopes only in userinfo (ID tokens carry them only via the `claims` parameter).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
  });
  provider.proxy = false;
  handler = provider.callback();
  console.log(`oidc-provider listening on ${issuer}`);
});
