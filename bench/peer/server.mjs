// The peer for bench/run.sh: oidc-provider (the OpenID Certified Node.js server) with the clients of
// bench/keyport.toml, its default in-memory adapter, and production settings.
//
//   NODE_ENV=production PORT=8091 node server.mjs
//
// - bench-bot / bench-bot-rs: client credentials; resource indicators give them JWT access tokens (ES256 / RS256).
// - bench-bot-opaque: client credentials without a resource: opaque access tokens.
// - bench-rs: a resource server that introspects (client_secret_basic).
// - bench-spa: the authorization code flow with PKCE S256 as a public client (bench/authcode.sh), ES256 ID tokens
//   like keyport's bench realm. A browser signs in once: the interaction page of this configuration
//   (`/interaction/:uid`, no form) signs `alice` in at once, like the session cookie keyport's browsers get from
//   one password sign-in; `loadExistingGrant` gives bench-spa a grant for `openid profile email` without a
//   consent page (a first-party client, like keyport's `consent = false`). Later flows of the browser go
//   straight from /auth to the redirect URI with a code.
// - bench-legacy: refresh tokens with rotation. oidc-provider has no password grant, so `GET /bench/mint?chains=N`
//   (a route of this benchmark configuration only) mints, through the provider's own models, N grants for `alice`
//   with one refresh token each (the chains the load generator rotates, like N logins) and one opaque access token
//   with `openid` (for userinfo).
//
// Storage: oidc-provider's own in-memory adapter, given an unbounded Map instead of its default LRU of 1,000
// entries. Under load the LRU evicts live refresh tokens within a second ("refresh token not found"), so the
// default cannot serve these workloads at all; the Map also spares the peer the LRU's bookkeeping.

import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const port = Number(process.env.PORT || 8091);
const issuer = `http://127.0.0.1:${port}`;

function privateJwk(options, kid, alg) {
  const { privateKey } = crypto.generateKeyPairSync(options.type, options.params);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const jwks = {
  keys: [
    privateJwk({ type: 'rsa', params: { modulusLength: 2048 } }, 'rs256', 'RS256'),
    privateJwk({ type: 'ec', params: { namedCurve: 'P-256' } }, 'es256', 'ES256'),
  ],
};

const resources = {
  'bench-bot': { url: 'urn:bench:api:es256', alg: 'ES256' },
  'bench-bot-rs': { url: 'urn:bench:api:rs256', alg: 'RS256' },
};

const accounts = {
  alice: {
    sub: 'alice', email: 'alice@example.org', email_verified: true, name: 'Alice Bench', preferred_username: 'alice',
  },
};

const bot = (clientId, secret) => ({
  client_id: clientId,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const store = new Map();

const provider = new Provider(issuer, {
  adapter: class extends MemoryAdapter {
    constructor(model) {
      super(model, store);
    }
  },
  clients: [
    bot('bench-bot', 'bench-bot-secret-0123456789abcdef0123456789abcdef'),
    bot('bench-bot-rs', 'bench-bot-rs-secret-0123456789abcdef0123456789abcdef'),
    bot('bench-bot-opaque', 'bench-bot-opaque-secret-0123456789abcdef0123456789abcdef'),
    bot('bench-rs', 'bench-rs-secret-0123456789abcdef0123456789abcdef'),
    {
      client_id: 'bench-legacy',
      client_secret: 'bench-legacy-secret-0123456789abcdef0123456789abcdef',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'bench-spa',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/cb'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (ctx.oidc.client.clientId !== 'bench-spa') return undefined;
    const grant = new ctx.oidc.provider.Grant({ accountId: ctx.oidc.session.accountId, clientId: 'bench-spa' });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
  findAccount: async (_ctx, id) => (accounts[id] ? { accountId: id, claims: async () => accounts[id] } : undefined),
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600, ClientCredentials: 3600, RefreshToken: 30 * 24 * 3600, Grant: 30 * 24 * 3600,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, client) => resources[client.clientId]?.url,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource, client) => {
        const r = resources[client.clientId];
        if (!r || r.url !== resource) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api', audience: resource, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: r.alg } },
        };
      },
    },
  },
});
provider.proxy = false;

async function mintTokens(chains) {
  const client = await provider.Client.find('bench-legacy');
  const scope = 'openid offline_access profile email';
  const login = async () => {
    const grant = new provider.Grant({ accountId: 'alice', clientId: client.clientId });
    grant.addOIDCScope(scope);
    return {
      accountId: 'alice', client, grantId: await grant.save(), scope, gty: 'authorization_code',
    };
  };
  const refreshTokens = [];
  for (let i = 0; i < chains; i += 1) {
    const common = await login();
    refreshTokens.push(await new provider.RefreshToken({ ...common, authTime: Math.floor(Date.now() / 1000) }).save());
  }
  const accessToken = await new provider.AccessToken(await login()).save();
  return { refresh_tokens: refreshTokens, userinfo_access_token: accessToken };
}

provider.use(async (ctx, next) => {
  if (ctx.path !== '/bench/mint') return next();
  ctx.body = await mintTokens(Number(ctx.query.chains || 0));
  return undefined;
});

// The sign-in of bench-spa's browsers: any interaction ends with `alice` signed in (no page, no password).
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: 'alice' } }, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
server.keepAliveTimeout = 120_000;
