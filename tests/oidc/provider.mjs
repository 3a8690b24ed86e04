// The OpenID provider of the identity tests: node-oidc-provider (certified), configured for
// what the gateway must handle.
//
// - Authorization code with PKCE (S256, required), refresh tokens, client credentials,
//   dynamic client registration (the MCP client registers itself).
// - Resource indicators (RFC 8707): every access token is a JWT whose audience is the resource
//   asked for, carrying the user's groups (opaque, for introspection, when the resource URI
//   ends in /opaque); a client registered with client_name "short-lived" gets 2-second tokens.
// - Token exchange (RFC 8693) for clients named in OIDC_TEST_EXCHANGE: a valid access token of
//   this provider for the resource the client may exchange from becomes one for another resource,
//   for the same user.
// - Login without a person: the interaction pages sign in the user named by the authorization
//   request's login_hint and grant what the client asked for.
// - POST /admin/rotate: a new signing key; tokens are signed with it from then on and the JWKS
//   lists it first (the old key stays listed, as a provider rotating its keys does).
//
// Prints "READY <issuer>" once it listens on 127.0.0.1 (port from OIDC_TEST_PORT, 0: any).
// The packages are resolved from OIDC_TEST_MODULES (the npm prefix `make test` installs into).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(path.join(process.env.OIDC_TEST_MODULES, 'package.json'));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const jose = await load('jose');
const { default: Provider, errors } = await load('oidc-provider');

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const GROUPS = JSON.parse(process.env.OIDC_TEST_GROUPS || '{}');
const EXCHANGE = JSON.parse(process.env.OIDC_TEST_EXCHANGE || '{}');

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: `k-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`, alg: 'RS256', use: 'sig' };
}

function resourceInfo(client, resource = '') {
  return {
    scope: 'mcp tools',
    audience: undefined,
    accessTokenTTL: client?.clientName === 'short-lived' ? 2 : 600,
    // A resource whose URI ends in /opaque gets opaque tokens, which only introspection reads.
    accessTokenFormat: resource.endsWith('/opaque') ? 'opaque' : 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

// The provider's storage, shared by the instances a rotation builds (each would otherwise
// start empty and forget every client, grant and token).
const stored = new Map();
const grants = new Map();
class SharedAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    stored.set(this.key(id), { payload: { ...payload }, until: expiresIn ? Date.now() + expiresIn * 1000 : null });
    if (payload.grantId) {
      if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
      grants.get(payload.grantId).add(this.key(id));
    }
  }

  async find(id) {
    const entry = stored.get(this.key(id));
    if (!entry || (entry.until && entry.until < Date.now())) return undefined;
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of stored) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return entry.payload;
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of stored) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) return entry.payload;
    }
    return undefined;
  }

  async consume(id) {
    const entry = stored.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    stored.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) || []) stored.delete(key);
    grants.delete(grantId);
  }
}

function build(issuer, keys) {
  const provider = new Provider(issuer, {
    adapter: SharedAdapter,
    jwks: { keys },
    cookies: { keys: ['effmesh-test-cookie-key'] },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@example.test`, groups: GROUPS[id] || [] }),
    }),
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'groups', 'mcp', 'tools'],
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({ ...resourceInfo(client, resource), audience: resource }),
      },
    },
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    extraTokenClaims: async (ctx, token) => ({
      ...(token.accountId ? { groups: GROUPS[token.accountId] || [] } : {}),
      // An exchanged token names the client that acted for the user (RFC 8693 "act").
      ...(token.gty === 'token_exchange' ? { act: { sub: token.clientId } } : {}),
    }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
  });
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const { client, params } = ctx.oidc;
      const from = EXCHANGE[client.clientId] || EXCHANGE[client.clientName];
      if (!from) throw new errors.UnauthorizedClient('this client may not exchange tokens');
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('unsupported subject_token_type');
      let payload;
      try {
        const keyset = jose.createLocalJWKSet({ keys: current.keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub) });
        ({ payload } = await jose.jwtVerify(params.subject_token, keyset, { issuer, audience: from }));
      } catch {
        throw new errors.InvalidGrant('the subject token is not valid');
      }
      if (!params.resource) throw new errors.InvalidTarget('a resource is required');
      const token = new provider.AccessToken({
        accountId: payload.sub,
        client,
        grantId: `exchange-${payload.jti}`,
        gty: 'token_exchange',
        scope: params.scope || 'mcp',
      });
      token.resourceServer = new provider.ResourceServer(params.resource, { ...resourceInfo(client), audience: params.resource });
      const value = await token.save();
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: token.expiration,
        scope: token.scope,
      };
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'audience', 'scope'],
  );
  return provider;
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    if (!params.login_hint) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('login_hint names the user to sign in');
      return;
    }
    result = { login: { accountId: params.login_hint } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const current = { provider: null, keys: [] };
const server = http.createServer(async (req, res) => {
  try {
    if (req.url.startsWith('/interaction/')) {
      await interaction(current.provider, req, res);
    } else if (req.url === '/admin/rotate' && req.method === 'POST') {
      current.keys = [await newKey(), ...current.keys];
      current.provider = build(current.issuer, current.keys);
      current.handle = current.provider.callback();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: current.keys[0].kid }));
    } else {
      current.handle(req, res);
    }
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err));
  }
});
server.listen(Number(process.env.OIDC_TEST_PORT || 0), '127.0.0.1', async () => {
  current.issuer = `http://127.0.0.1:${server.address().port}`;
  current.keys = [await newKey()];
  current.provider = build(current.issuer, current.keys);
  current.handle = current.provider.callback();
  process.stdout.write(`READY ${current.issuer}\n`);
});
