// A real OpenID Connect provider (the certified `oidc-provider` package) for the JWKS-mode token
// tests: tests/e2e/test_oidc_issuer.py starts it, on loopback and a random port, and stops it after.
//
//   node tests/oidc/issuer.mjs CONFIG.json
//
// CONFIG: {"audience": "tsunagu", "clients": [{"client_id", "client_secret", "org", "roles",
// "ttl"?}]}. Each client gets client-credentials access tokens in JWT form for the resource
// `urn:tsunagu:api` (audience `audience`; any other resource gets the audience `other-app`),
// carrying our claims: sub (the client id), org, roles, iat, exp, aud, iss.
//
// Two issuers share one key set, as the tenants of a multi-tenant identity provider do:
// `http://127.0.0.1:PORT` and `http://127.0.0.1:PORT/other` (a token of the second is signed by a
// key the service trusts, and must still be refused for its issuer).
//
// Test-only endpoints, loopback only: POST /__rotate puts a new signing key first (the old one
// stays published, as in a real rotation); GET /__stats says how often the JWKS was fetched.
// On start it prints one JSON line: {"issuer": ..., "other_issuer": ..., "port": ...}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const RESOURCE = 'urn:tsunagu:api';
const clientsById = new Map(config.clients.map((c) => [c.client_id, c]));

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

let keys = [newKey()];
let jwksFetches = 0;

function provider(issuer) {
  const p = new Provider(issuer, {
    jwks: { keys },
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'api',
          audience: resource === RESOURCE ? config.audience : 'other-app',
          accessTokenTTL: clientsById.get(client.clientId)?.ttl ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // Our claims: the organisation and roles this client acts for.
    extraTokenClaims: (ctx, token) => {
      const c = clientsById.get(token.clientId);
      return c ? { org: c.org, roles: c.roles } : undefined;
    },
  });
  p.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  return p;
}

const server = http.createServer();
let issuers;

function build() {
  const { port } = server.address();
  const base = `http://127.0.0.1:${port}`;
  issuers = { main: provider(base), other: provider(`${base}/other`) };
  return base;
}

server.on('request', (req, res) => {
  if (req.url === '/__rotate' && req.method === 'POST') {
    keys = [newKey(), ...keys];
    build();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  if (req.url === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jwks_fetches: jwksFetches, kids: keys.map((k) => k.kid) }));
    return;
  }
  if (req.url.startsWith('/jwks')) jwksFetches += 1;
  if (req.url === '/other' || req.url.startsWith('/other/')) {
    // Mounted as express mounts an app: the provider sees the path below its mount point.
    req.originalUrl = req.url;
    req.url = req.url.slice('/other'.length) || '/';
    issuers.other.callback()(req, res);
    return;
  }
  issuers.main.callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const base = build();
  process.stdout.write(`${JSON.stringify({ issuer: base, other_issuer: `${base}/other`, port: server.address().port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
