// server.mjs runs node-oidc-provider (https://github.com/panva/node-oidc-provider)
// on loopback for tokenkeeper's end-to-end tests: a real authorization server
// that implements DPoP (RFC 9449, with server-provided nonces) and
// private_key_jwt client authentication (RFC 7523), plus the authorization
// code flow with PKCE, refresh token rotation, client credentials, the
// device authorization grant (RFC 8628), revocation (RFC 7009) and userinfo.
//
// It is started by the Go package nodeop, which passes its configuration as
// JSON in the NODEOP_CONFIG environment variable:
//
//   {
//     "clients": [ ...client metadata as registered with the provider... ],
//     "scopes": [ "openid", "offline_access", ... ],
//     "users": { "alice": { "name": "...", "email": "..." }, ... },
//     "password": "the password every user logs in with",
//     "accessTokenTTL": 60,            // seconds
//     "refreshTokenTTL": 1209600,      // seconds
//     "requireDPoPNonce": true,        // proofs without a server nonce get use_dpop_nonce
//     "alwaysRotate": true,            // every refresh rotates the refresh token
//     "deviceInterval": 1              // seconds, the device authorization's interval
//   }
//
// It listens on 127.0.0.1 on a free port, its issuer is http://127.0.0.1:PORT,
// and the first line it writes on stdout is {"issuer": "...", "port": PORT}.
// It exits when its stdin is closed (so it never outlives the Go test that
// started it) or on SIGTERM/SIGINT. Errors go to stderr.
//
// The login and consent pages are its own (below), not node-oidc-provider's
// devInteractions: a login form that accepts only the configured users with
// the configured password, and a consent page with Allow and Deny buttons;
// Deny ends the authorization with error=access_denied at the redirect URI.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(process.env.NODEOP_CONFIG || '{}');
const users = config.users || { alice: { name: 'Alice', email: 'alice@example.com' } };
const password = config.password ?? 'password';

function signingKeys() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return [
    { ...rsa.export({ format: 'jwk' }), kid: 'rs256', alg: 'RS256', use: 'sig' },
    { ...ec.export({ format: 'jwk' }), kid: 'es256', alg: 'ES256', use: 'sig' },
  ];
}

async function findAccount(ctx, sub) {
  const profile = users[sub];
  if (!profile) {
    return undefined;
  }
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: profile.name,
        email: profile.email,
        email_verified: true,
      };
    },
  };
}

function providerConfiguration() {
  const accessTokenTTL = config.accessTokenTTL || 60;
  return {
    clients: config.clients || [],
    jwks: { keys: signingKeys() },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    scopes: config.scopes || ['openid', 'offline_access', 'profile', 'email', 'api'],
    pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: crypto.randomBytes(32),
        requireNonce: () => config.requireDPoPNonce !== false,
      },
    },
    // RS256 beside the defaults (ES256, Ed25519, EdDSA), so that all three of
    // tokenkeeper's DPoP key types are accepted.
    enabledJWA: {
      dPoPSigningAlgValues: ['ES256', 'Ed25519', 'EdDSA', 'RS256', 'PS256'],
    },
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    rotateRefreshToken: config.alwaysRotate === false ? undefined : () => true,
    ttl: {
      AccessToken: () => accessTokenTTL,
      ClientCredentials: () => accessTokenTTL,
      RefreshToken: () => config.refreshTokenTTL || 14 * 24 * 60 * 60,
      Grant: () => 14 * 24 * 60 * 60,
      Session: () => 14 * 24 * 60 * 60,
      Interaction: () => 60 * 60,
      IdToken: () => 60 * 60,
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<p class="error">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
    },
  };
}

// Remove the undefined entries, so that node-oidc-provider keeps its defaults.
function defined(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, message) {
  return page('Sign-in', `${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<input type="text" name="login" placeholder="user name" autofocus>
<input type="password" name="password" placeholder="password">
<button type="submit">Sign in</button>
</form>`);
}

function consentPage(uid, clientId, scopes) {
  return page('Authorize', `<p>${escape(clientId)} asks for: ${escape(scopes.join(' '))}</p>
<form method="post" action="/interaction/${escape(uid)}/confirm">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1 << 16) {
      throw new Error('form too large');
    }
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function consent(provider, details) {
  const { prompt: { details: missing }, grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) {
    grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  }
  if (missing.missingOIDCClaims) {
    grant.addOIDCClaims(missing.missingOIDCClaims);
  }
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  return grant.save();
}

// interaction serves /interaction/:uid (the login or consent page),
// /interaction/:uid/login and /interaction/:uid/confirm.
async function interaction(provider, req, res, path) {
  const [, uid, action] = path.split('/').filter(Boolean).concat([undefined]);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p class="error">interaction mismatch</p>'));
    return;
  }
  const prompt = details.prompt.name;
  if (req.method === 'GET' && action === undefined) {
    if (prompt === 'login') {
      send(res, 200, loginPage(uid));
    } else {
      send(res, 200, consentPage(uid, details.params.client_id, String(details.params.scope || '').split(' ')));
    }
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, page('Error', '<p class="error">method not allowed</p>'));
    return;
  }
  const form = await readForm(req);
  if (action === 'login' && prompt === 'login') {
    const login = form.get('login') || '';
    if (!Object.hasOwn(users, login) || form.get('password') !== password) {
      send(res, 200, loginPage(uid, 'Invalid user name or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm' && prompt === 'consent') {
    if (form.get('decision') !== 'allow') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User denied the request',
      }, { mergeWithLastSubmission: false });
      return;
    }
    const grantId = await consent(provider, details);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  send(res, 400, page('Error', `<p class="error">unexpected ${escape(action)} for prompt ${escape(prompt)}</p>`));
}

function logErrors(provider) {
  for (const event of ['server_error', 'grant.error', 'userinfo.error', 'revocation.error',
    'authorization.error', 'backchannel.error']) {
    provider.on(event, (ctx, err) => {
      const e = err ?? ctx;
      const detail = e.error_detail ? ` (${e.error_detail})` : '';
      console.error(`nodeop: ${event}: ${e.error || e.name}: ${e.error_description || e.message}${detail}`);
    });
  }
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, defined(providerConfiguration()));
  logErrors(provider);
  // RFC 8628 §3.2: node-oidc-provider sends no interval (clients then
  // wait 5 s); tests want a shorter one.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
      ctx.body.interval = config.deviceInterval || 5;
    }
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    if (!pathname.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, pathname).catch((err) => {
      if (err instanceof errors.SessionNotFound) {
        send(res, 400, page('Error', '<p class="error">interaction session not found</p>'));
        return;
      }
      console.error(`nodeop: interaction: ${err.message}`);
      if (!res.headersSent) {
        send(res, 500, page('Error', '<p class="error">server error</p>'));
      }
    });
  });
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
