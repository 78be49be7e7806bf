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

// Logout logs the account out: it deletes its tokens locally (from the
// store and from memory, [tokensource.Source.Forget]) whatever happens at
// the provider, then, where the provider has a revocation endpoint,
// revokes the refresh token and the access token (RFC 7009, with
// token_type_hint), so that they stop working at the provider too.
// Afterwards the TokenSource fails with [tokensource.ErrLoginRequired]
// until the account logs in again.
//
// If a revocation fails (network error, an error answer), Logout returns
// an error matching [ErrNotRevoked] that wraps an *EndpointError: the
// tokens are gone locally but may stay valid at the provider until they
// expire. A provider without a revocation endpoint: local delete only, nil.
// An account with no tokens: nil. The local delete is done even when ctx
// is already done.
func (a *Account) Logout(ctx context.Context) error {
	rec, err := a.src.Current(ctx)
	if errors.Is(err, tokensource.ErrLoginRequired) {
		rec, err = nil, nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	if ferr := a.src.Forget(fctx); ferr != nil {
		return errors.Join(fmt.Errorf("client: logout: %w", ferr), err)
	}
	if err != nil {
		return fmt.Errorf("client: logout: deleted locally, but reading the tokens to revoke failed: %w", err)
	}
	a.c.log.Info("client: logged out locally", slog.String("key", a.key))
	if rec == nil || a.c.ep.Revocation == "" {
		return nil
	}
	return a.c.revokeAll(ctx, rec)
}

// revokeAll revokes rec's refresh token, then its access token.
func (c *Client) revokeAll(ctx context.Context, rec *storage.Token) error {
	var errs []error
	if rec.RefreshToken != "" {
		errs = append(errs, c.revoke(ctx, rec.RefreshToken, "refresh_token"))
	}
	if rec.AccessToken != "" {
		errs = append(errs, c.revoke(ctx, rec.AccessToken, "access_token"))
	}
	if err := errors.Join(errs...); err != nil {
		return withKind(ErrNotRevoked, err)
	}
	return nil
}

// revoke sends one revocation request (RFC 7009 §2.1). A 200 answer
// confirms it, also for a token the server no longer knows (§2.2). An
// access token the server cannot revoke (unsupported_token_type) is not a
// failure: it expires by itself.
func (c *Client) revoke(ctx context.Context, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	status, body, err := c.postForm(ctx, c.ep.Revocation, form)
	if err != nil {
		return &EndpointError{Endpoint: "revocation", Err: err}
	}
	if status == http.StatusOK {
		return nil
	}
	e := endpointError("revocation", status, body, c.formSecrets(form)...)
	if hint == "access_token" && e.Code == "unsupported_token_type" {
		return nil
	}
	return e
}
