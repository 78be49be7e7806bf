// Package client is where users of tokenkeeper start: it turns an OpenID
// Provider's issuer URL (or a plain OAuth 2.0 server's endpoints) and a
// client ID into logged-in accounts whose access tokens stay fresh for as
// long as the provider allows.
//
// [New] runs OpenID Connect discovery with go-oidc and returns a [Client].
// [Client.Account] returns the [Account] stored under a key (several
// accounts per client are fine; [Client.DefaultKey] derives one from the
// issuer and client ID). An account logs in once with one of:
//
//   - [Account.Login]: a native or CLI app (RFC 8252) opens the system
//     browser and receives the authorization code on a loopback listener;
//   - [Account.AuthCodeURL] and [Account.Exchange]: a web app's two steps,
//     redirect and callback, with the [AuthRequest] kept in the session;
//   - [Account.LoginDevice]: the device authorization grant (RFC 8628) for
//     devices without a browser;
//   - [Account.LoginPassword]: the legacy password grant.
//
// Every authorization request uses PKCE with S256 (RFC 7636; a provider
// that lists its methods without S256 is refused, never downgraded to
// plain) and a fresh state and nonce; the callback's state is compared in
// constant time and its iss parameter checked (RFC 9207). The loopback
// listener answers only requests addressed to itself (Host header), and a
// response with a wrong state does not end the login. ID tokens are
// verified with go-oidc (signature, RS256 by default, iss, aud, exp) and by
// this package: the key by kid from the provider's JWKS (refetched for an
// unknown kid at most every [KeyRefetchInterval]; no kid only with a
// single usable key), audiences other than the client ID only when listed
// in Config.TrustedAudiences, azp, iat ([IDTokenClockSkew],
// Config.IDTokenMaxAge), nonce and at_hash; a refreshed ID token must keep
// the issuer, subject, audience, azp and auth_time (OpenID Connect Core
// §12.2). Discovery reads at most 1 MiB and follows only same-origin
// redirects, as JWKS fetches do.
//
// After a login the whole token set is saved in Config.Store with the login
// time, so the next start of the program needs no login: the account's
// [Account.TokenSource] (a [tokensource.Source]) refreshes the access token
// before it expires, once however many goroutines ask, saving every rotated
// refresh token, and [Account.HTTPClient] sends requests with
// "Authorization: Bearer". When the provider no longer accepts the refresh
// token, both fail with [tokensource.ErrLoginRequired].
//
// The discovery document and JWK set are cached in the store too (under
// keys starting with [ReservedKeyPrefix]): a program restarted with a
// valid access token makes no request to the provider, which may be
// unreachable. Tokens an app already holds are migrated with
// [Account.Seed] ([TokenFromOAuth2]); a refresh token the provider
// declared dead, or that was logged out, is remembered by a salted
// fingerprint and never presented again ([ErrDeadRefreshToken]).
// [Account.LastLogin] tells whether a login got a refresh token
// ([ErrNoRefreshToken], with the provider's usual causes);
// Config.PromptConsent and the Google defaults are the remedies.
// [Client.Accounts] lists the accounts with tokens.
//
// [Client.ServiceAccount] is an account that uses the client credentials
// grant: the client calls APIs with its own identity and never logs in.
//
// Two opt-in defences harden a client. Config.ClientAuth replaces a
// confidential client's shared secret with private_key_jwt (RFC 7523): a
// fresh assertion signed by the client's key at every request to the
// token, device authorization and revocation endpoints. Config.DPoP binds
// every account's tokens to a key pair of the account (RFC 9449): each
// login makes a key, sends its thumbprint as dpop_jkt, proves possession
// at the token endpoint and refuses tokens that come back unbound
// ([tokensource.ErrDPoPDowngrade]); the key is stored with the tokens and
// signs a proof for every refresh, revocation, userinfo and
// [Account.HTTPClient] request ("Authorization: DPoP"), answering the
// servers' nonce requests once each. A stolen DPoP-bound refresh token is
// useless without the key.
//
// [Account.IDToken] and [Account.UserInfo] tell who the user is;
// [Account.Logout] revokes the tokens at the provider (RFC 7009) and
// deletes them locally; [Account.LogoutWith] reports whether the provider
// revoked them ([Revocation]) and builds the RP-initiated logout URL
// ([EndSessionRequest]). Headless logins: [OpenSystemBrowser] honours
// $BROWSER, and LoginOptions.Paste takes the address the browser ended on.
//
// Failures are typed: sentinels such as [ErrStateMismatch],
// [ErrIssuerMismatch], [ErrNonceMismatch] or [ErrAccessDenied] for
// errors.Is, and [*CallbackError], [*EndpointError] and
// [*tokensource.Error] for errors.As. For code written for
// golang.org/x/oauth2, errors of the token endpoint returned by this
// package's logins and by [Account.HTTPClient], and *EndpointErrors with
// a response, also match *oauth2.RetrieveError (status, code and
// description; no body). No error, log line or formatted value
// of this package's types contains a token, code, verifier, state, nonce,
// password, client secret, DPoP key or DPoP proof.
package client
