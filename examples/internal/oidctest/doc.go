// Package oidctest starts a real OpenID Provider in-process, for tests and examples only.
//
// The provider is the example OP shipped with github.com/zitadel/oidc/v3 (packages
// example/server/exampleop, example/server/storage and pkg/op), served over plain HTTP on an
// ephemeral 127.0.0.1 port. This package wraps it rather than re-implementing it: the
// authorization, token, userinfo, revocation, discovery, JWKS and device endpoints, the
// login form and the device pages are zitadel's. The wrapper adds what tests need and the
// example does not offer:
//
//   - configurable token lifetimes (the example storage hard-codes 5 min / 5 h / 1 h), see
//     [Options];
//   - clients registered per provider: a native public client whose loopback redirect accepts
//     any port (RFC 8252 §7.3), confidential web clients, a public device-flow client
//     (RFC 8628) that also gets refresh tokens, and the example's client_credentials client;
//   - users added at run time ([Provider.AddUser]) next to [DefaultUsername];
//   - refresh-token rotation with a choice of what happens when a rotated token comes back
//     ([ReusePolicy], [Options.RefreshReuseInterval]), server-side revocation
//     ([Provider.RevokeUser]) and forced access-token expiry ([Provider.ExpireAccessTokens]);
//   - a headless browser ([Provider.Browser], [Provider.Login], [Provider.ApproveDevice]) that
//     fills in the OP's real HTML forms;
//   - a protected resource (the Resource field of [Endpoints]) that answers 401 with
//     WWW-Authenticate: Bearer error="invalid_token" (the OP's userinfo endpoint answers 403);
//   - token-endpoint request counting and failure injection ([Provider.TokenRequests],
//     [Provider.FailTokenRequests]);
//   - an opt-in emulation of the resource owner password grant, which zitadel does not
//     implement ([Options.PasswordGrant]).
//
// Quirks of the underlying OP that tests should know:
//
//   - There is no login session: every authorization request shows the login form, and
//     prompt=none fails with login_required.
//   - A refresh token is issued when the scope contains offline_access; prompt=consent is not
//     needed. Refreshing rotates the refresh token and also revokes the access token issued
//     with the old one.
//   - Every token response, refreshes included, carries an ID token, even without the openid
//     scope.
//   - Access tokens are opaque (encrypted, not JWTs); ID tokens are RS256 JWTs.
//   - The userinfo endpoint answers an expired or revoked access token with 403, not 401.
//   - Public clients should send client_id in the form body (oauth2.AuthStyleInParams): the
//     code and refresh grants also accept HTTP Basic with an empty secret, but the device
//     token endpoint then answers invalid_client ("confidential client requires
//     authentication"). x/oauth2's AuthStyleAutoDetect recovers by retrying.
//   - A device code stays redeemable after its tokens were issued, and the OP never answers
//     slow_down.
//   - zitadel logs through [slog.Default] (one line per request), which this package never
//     changes; [Options.Logger] receives only the wrapper's own lines.
//
// Nothing here is meant for production: keys, secrets and users live in memory and the
// transport is plain HTTP on loopback.
package oidctest
