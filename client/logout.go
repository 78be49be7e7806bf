package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// forgetTimeout bounds the local delete of Logout when ctx is already done.
const forgetTimeout = 10 * time.Second

// Revocation says what happened at the provider when an account logged
// out.
type Revocation int

const (
	// NothingToRevoke: the account had no tokens.
	NothingToRevoke Revocation = iota
	// Revoked: the provider confirmed the revocation of every token
	// (RFC 7009; an access token it cannot revoke, unsupported_token_type,
	// counts as done: it expires by itself).
	Revoked
	// RevocationUnsupported: the provider has no revocation endpoint; the
	// tokens stay valid there until they expire (the refresh token is
	// deleted locally and booked dead, so this client never uses it again).
	RevocationUnsupported
	// RevocationFailed: a revocation request failed; LogoutResult.Err
	// says why.
	RevocationFailed
)

var revocationText = [...]string{"nothing to revoke", "revoked", "revocation not supported by the provider", "revocation failed"}

// String describes r.
func (r Revocation) String() string {
	if r >= 0 && int(r) < len(revocationText) {
		return revocationText[r]
	}
	return fmt.Sprintf("Revocation(%d)", int(r))
}

// LogoutResult reports what [Account.LogoutWith] did. The local delete
// always happened when LogoutWith returned a result.
type LogoutResult struct {
	Revocation Revocation
	// Err is why the revocation failed: it matches [ErrNotRevoked] and
	// wraps an *EndpointError (or ctx's error). nil unless Revocation is
	// RevocationFailed.
	Err error
	// EndSession is the RP-initiated logout request, when
	// LogoutOptions.EndSession asked for it and the provider has an
	// end_session_endpoint; nil otherwise.
	EndSession *EndSessionRequest
	// Opened says EndSession.URL was opened with the browser opener.
	Opened bool
}

// LogoutOptions configures [Account.LogoutWith]. The zero value revokes
// and deletes the tokens, as [Account.Logout] does.
type LogoutOptions struct {
	// EndSession also ends the user's session at the provider (OpenID
	// Connect RP-Initiated Logout 1.0): the result's EndSession holds the
	// end_session_endpoint URL with id_token_hint, client_id, state and
	// PostLogoutRedirectURI. A web app redirects the browser there and
	// checks the return with [EndSessionRequest.Check]. Ignored, with
	// EndSession nil, when the provider has no end_session_endpoint.
	EndSession bool
	// PostLogoutRedirectURI is where the provider sends the browser back
	// (it must be registered there). "": none; the provider shows its own
	// page.
	PostLogoutRedirectURI string
	// OpenBrowser opens EndSession's URL, for a native app: for example
	// [OpenSystemBrowser], the opener Login uses by default. Its failure is
	// returned by LogoutWith (with the result: the tokens are gone
	// locally). nil: the URL is only returned, for a web app to redirect
	// to.
	OpenBrowser func(ctx context.Context, url string) error
}

// Logout logs the account out: it deletes its tokens locally (from the
// store and from memory, [tokensource.Source.Forget]) whatever happens at
// the provider, then, where the provider has a revocation endpoint,
// revokes the refresh token and the access token (RFC 7009, with
// token_type_hint), so that they stop working at the provider too. For
// DPoP-bound tokens each revocation request carries a DPoP proof by the
// account's key, and a use_dpop_nonce answer is retried once with the
// nonce the provider sent.
// Afterwards the TokenSource fails with [tokensource.ErrLoginRequired]
// until the account logs in again.
//
// If a revocation fails (network error, an error answer), Logout returns
// an error matching [ErrNotRevoked] that wraps an *EndpointError: the
// tokens are gone locally but may stay valid at the provider until they
// expire. A provider without a revocation endpoint: local delete only, nil
// (use [Account.LogoutWith] to tell the cases apart). An account with no
// tokens: nil. The local delete is done even when ctx is already done.
func (a *Account) Logout(ctx context.Context) error {
	r, err := a.LogoutWith(ctx, LogoutOptions{})
	if err != nil {
		return err
	}
	return r.Err
}

// LogoutWith is Logout that reports what happened at the provider
// ([LogoutResult]) and can end the provider's session (RP-initiated
// logout). Its error is non-nil only when the local delete failed (or the
// tokens could not be read); a failed revocation is in the result.
func (a *Account) LogoutWith(ctx context.Context, opts LogoutOptions) (*LogoutResult, error) {
	if opts.PostLogoutRedirectURI != "" {
		if err := checkURL(opts.PostLogoutRedirectURI); err != nil {
			return nil, fmt.Errorf("client: LogoutOptions.PostLogoutRedirectURI: %w", err)
		}
	}
	rec, err := a.src.Current(ctx)
	if errors.Is(err, tokensource.ErrLoginRequired) {
		rec, err = nil, nil
	}
	key := a.dpopKey(rec) // before Forget: the Source's key, with its nonces
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	if ferr := a.src.Forget(fctx); ferr != nil {
		return nil, errors.Join(fmt.Errorf("client: logout: %w", ferr), err)
	}
	if err != nil {
		return nil, fmt.Errorf("client: logout: deleted locally, but reading the tokens to revoke failed: %w", err)
	}
	a.c.log.Info("client: logged out locally", slog.String("key", a.key))
	a.c.indexSet(fctx, a.key, false)
	r := &LogoutResult{}
	switch {
	case rec == nil:
	case a.c.ep.Revocation == "":
		r.Revocation = RevocationUnsupported
		a.c.log.Info("client: the provider has no revocation endpoint; the tokens stay valid there until they expire", slog.String("key", a.key))
	default:
		r.Revocation = Revoked
		if r.Err = a.c.revokeAll(ctx, rec, key); r.Err != nil {
			r.Revocation = RevocationFailed
			a.c.log.Warn("client: logout: revocation failed", slog.String("key", a.key), slog.String("error", r.Err.Error()))
		}
	}
	if opts.EndSession && a.c.ep.EndSession != "" {
		if err := a.endSession(ctx, rec, opts, r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// dpopKey returns the DPoP key of the account's tokens rec: the Source's
// (which shares its nonce memory), else rec's own; nil for Bearer tokens
// or a key that does not parse (the revocation is then sent without a
// proof, and the provider says whether it takes it).
func (a *Account) dpopKey(rec *storage.Token) *tokensource.DPoPKey {
	if rec == nil || rec.DPoPKey == "" {
		return nil
	}
	if k := a.src.DPoPKey(); k != nil {
		return k
	}
	k, err := tokensource.ParseDPoPKey(rec.DPoPKey)
	if err != nil {
		a.c.log.Warn("client: logout: the stored DPoP key does not parse", slog.String("key", a.key), slog.String("error", err.Error()))
		return nil
	}
	return k
}

// revokeAll revokes rec's refresh token, then its access token; with key
// (DPoP-bound tokens) each request carries a proof by it.
func (c *Client) revokeAll(ctx context.Context, rec *storage.Token, key *tokensource.DPoPKey) error {
	var errs []error
	if rec.RefreshToken != "" {
		errs = append(errs, c.revoke(ctx, rec.RefreshToken, "refresh_token", key))
	}
	if rec.AccessToken != "" {
		errs = append(errs, c.revoke(ctx, rec.AccessToken, "access_token", key))
	}
	if err := errors.Join(errs...); err != nil {
		return withKind(ErrNotRevoked, err)
	}
	return nil
}

// revoke sends one revocation request (RFC 7009 §2.1). A 200 answer
// confirms it, also for a token the server no longer knows (§2.2). An
// access token the server cannot revoke (unsupported_token_type) is not a
// failure: it expires by itself. With key the request carries a DPoP
// proof, and a use_dpop_nonce answer is retried once with the nonce.
func (c *Client) revoke(ctx context.Context, token, hint string, key *tokensource.DPoPKey) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	status, body, secrets, err := c.postForm(ctx, c.ep.Revocation, form, key)
	if err != nil {
		return &EndpointError{Endpoint: "revocation", Err: err}
	}
	if status == http.StatusOK {
		return nil
	}
	e := endpointError("revocation", status, body, secrets...)
	if hint == "access_token" && e.Code == "unsupported_token_type" {
		return nil
	}
	return e
}
