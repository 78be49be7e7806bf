// Package nodeop runs node-oidc-provider (the npm package oidc-provider, a
// certified OpenID Provider) on loopback for tokenkeeper's end-to-end tests:
// a real authorization server that implements DPoP (RFC 9449) with
// server-provided nonces and private_key_jwt client authentication
// (RFC 7523, OpenID Connect Core §9), beside the authorization code flow
// with PKCE, refresh token rotation, client credentials, the device
// authorization grant (RFC 8628), revocation (RFC 7009) and userinfo.
//
// [Start] installs the provider's npm dependencies on first use (npm ci
// from the committed package-lock.json into server/node_modules), starts
// `node server/server.mjs` as a child process with the options and the
// registered clients, waits until discovery answers and stops the process
// when the test ends. Without node or npm, or when the install fails, the
// test is skipped, or fails when the CI environment variable is "true".
//
// The provider's login and consent pages are served by server.mjs: a login
// form that accepts the configured users with [Password], and a consent page
// with Allow and Deny. [Server.Login], [Server.Browser] and
// [Server.ApproveDevice] drive them (and node-oidc-provider's device
// pages) with net/http and a cookie jar, so a login completes without a
// browser.
//
// What node-oidc-provider does that a client must cope with:
//   - A token request with a DPoP proof without a server nonce is answered
//     400 use_dpop_nonce with a DPoP-Nonce header (unless
//     Options.OptionalDPoPNonce), and the client assertion of that request
//     is spent: the retry needs a fresh assertion as well as a fresh proof.
//   - offline_access yields a refresh token in the authorization code flow
//     only with prompt=consent; in the device flow it always does.
//   - A rotated refresh token used again revokes the whole grant.
//   - A user code can be confirmed once, even if the login then fails.
//
// The provider's userinfo endpoint is a DPoP-protected resource: it accepts
// a DPoP-bound access token only as `Authorization: DPoP <token>` with a
// proof whose ath is the token's hash, asks for a nonce with 401 and
// `WWW-Authenticate: DPoP error="use_dpop_nonce"` plus a DPoP-Nonce header,
// and refuses the token as a Bearer token.
package nodeop
