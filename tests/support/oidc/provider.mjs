// A real OpenID provider for the integration tests: node-oidc-provider, three times over.
//   node provider.mjs <port> <app base URL>
// Issuers (all on http://127.0.0.1:<port>):
//   /google                     stands in for Google
//   /entra/tenant-a/v2.0        one Entra tenant; /entra/common/v2.0 serves Entra's
//                               multi-tenant discovery document (issuer with {tenantid})
//   /clever                     stands in for Clever (adds `user_type`)
// Accounts need no registration: the login name is base64url(JSON {"claims": {...}}), and
// those claims (email, email_verified, name, tid, user_type) are what the ID token asserts.
// POST /__fault?mode=expired|wrong_aud|nonce|tamper breaks the next ID token on purpose.
// Prints "ready" when listening.

import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.argv[2]);
const app = process.argv[3];
const base = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

let fault = null;

function account(id) {
  try {
    return JSON.parse(Buffer.from(id, 'base64url').toString()).claims ?? {};
  } catch {
    return {};
  }
}

async function breakToken(idToken, mode) {
  const [header, payload, signature] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  if (mode === 'tamper') {
    claims.email = 'mallory@example.org';
    const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${header}.${forged}.${signature}`;
  }
  if (mode === 'expired') {
    claims.iat = Math.floor(Date.now() / 1000) - 7200;
    claims.exp = Math.floor(Date.now() / 1000) - 3600;
  } else if (mode === 'wrong_aud') {
    claims.aud = 'someone-else';
  } else if (mode === 'nonce') {
    claims.nonce = 'not-the-nonce';
  }
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
    .sign(privateKey);
}

function makeProvider(issuer, name, callbackPath) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: `${name}-client`,
        client_secret: `${name}-secret`,
        redirect_uris: [`${app}${callbackPath}`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [signingKey] },
    claims: {
      openid: ['sub', 'tid', 'user_type'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-cookie-key'] },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...account(id) };
        },
      };
    },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (fault && ctx.path.endsWith('/token') && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: await breakToken(ctx.body.id_token, fault) };
      fault = null;
    }
  });
  return provider;
}

const mounts = [
  ['/google', makeProvider(`${base}/google`, 'google', '/auth/google/callback')],
  ['/entra/tenant-a/v2.0', makeProvider(`${base}/entra/tenant-a/v2.0`, 'microsoft', '/auth/microsoft/callback')],
  ['/clever', makeProvider(`${base}/clever`, 'clever', '/auth/clever/callback')],
].map(([prefix, provider]) => [prefix, provider, provider.callback()]);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base);
  if (url.pathname === '/__fault' && req.method === 'POST') {
    fault = url.searchParams.get('mode');
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === '/entra/common/v2.0/.well-known/openid-configuration') {
    // Entra's multi-tenant document: the tenant's own, with a templated issuer.
    const upstream = await fetch(`${base}/entra/tenant-a/v2.0/.well-known/openid-configuration`);
    const document = await upstream.json();
    document.issuer = `${base}/entra/{tenantid}/v2.0`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
    return;
  }
  for (const [prefix, , handler] of mounts) {
    if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
      // Mounted like Express does it: the provider sees the path below its prefix.
      req.originalUrl = req.url;
      req.baseUrl = prefix;
      req.url = req.url.slice(prefix.length) || '/';
      handler(req, res);
      return;
    }
  }
  res.writeHead(404).end();
});

server.listen(port, '127.0.0.1', () => console.log('ready'));
