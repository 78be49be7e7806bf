package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// ErrDeadRefreshToken: [Account.Seed] or [Account.SetToken] was given a
// refresh token that this store's account already lost: the provider
// declared it dead (the account then had to log in again), or it was
// logged out. It is refused without being presented to the provider. The
// error also matches [tokensource.ErrLoginRequired] (Reason
// ReasonRejected).
var ErrDeadRefreshToken = errors.New("client: this refresh token is known dead")

// TokenFromOAuth2 converts a token of golang.org/x/oauth2 (for example one
// an app obtained before it used this package) to the record a store
// keeps: the access, refresh and ID tokens (Extra("id_token")), the type,
// the scope (Extra("scope")), the expiry and, when the token response had
// refresh_expires_in (Keycloak) or refresh_token_expires_in (Entra,
// GitHub), the refresh token's expiry, counted from the moment the access
// token was issued (Expiry minus ExpiresIn) or else from now; 0 means no
// expiry. AuthTime is left zero (unknown), so MaxSessionAge does not
// apply to it. A nil tok gives nil.
func TokenFromOAuth2(tok *oauth2.Token) *storage.Token { return tokenFromOAuth2(tok, time.Now()) }

func tokenFromOAuth2(tok *oauth2.Token, now time.Time) *storage.Token {
	if tok == nil {
		return nil
	}
	t := &storage.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	if s, ok := tok.Extra("id_token").(string); ok {
		t.IDToken = s
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scope = s
	}
	issued := now
	if tok.ExpiresIn > 0 && !tok.Expiry.IsZero() {
		issued = tok.Expiry.Add(-time.Duration(tok.ExpiresIn) * time.Second)
	}
	for _, name := range []string{"refresh_expires_in", "refresh_token_expires_in"} {
		if secs, ok := number(tok.Extra(name)); ok && secs > 0 && secs < 1<<31 {
			t.RefreshExpiry = issued.Add(time.Duration(secs * float64(time.Second))).Round(0)
			break
		}
	}
	return t
}

// number reads a JSON number, or a string holding one, as some providers
// send.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// Seed stores tok (converted with [TokenFromOAuth2]) as the account's
// tokens only if the account has none: it was never logged in, or it was
// logged out or its refresh token declared dead since. It reports whether
// it stored tok. A DPoP-bound token (token type DPoP) is refused with
// [ErrUnsupported]: an oauth2.Token does not carry its key. Use it to migrate an app's existing tokens: seeding at
// every start is safe, since later starts find the account's own, newer
// tokens and leave them.
//
// A refresh token is seeded at most once per account: one the account
// was seeded with before, or lost (see [ErrDeadRefreshToken]), is refused
// with an error matching ErrDeadRefreshToken and
// [tokensource.ErrLoginRequired], without asking the provider. So a
// program that seeds the token in its configuration at every start
// presents it at most once, even after the provider revoked the grant and
// the account's record was deleted. An ID token is verified, except
// for its expiry (a seeded one is often old); without an Issuer it is
// dropped. Seed fails with [ErrLoginInProgress] while a login of the
// account runs, and with [ErrUnsupported] on a service account.
func (a *Account) Seed(ctx context.Context, tok *oauth2.Token) (bool, error) {
	return a.seed(ctx, tok, false)
}

// SetToken stores tok (converted with [TokenFromOAuth2]) as the account's
// tokens, replacing any it has, as a login would, but refuses a refresh
// token the account already lost, as [Account.Seed] does. AuthTime is
// left zero.
func (a *Account) SetToken(ctx context.Context, tok *oauth2.Token) error {
	_, err := a.seed(ctx, tok, true)
	return err
}

func (a *Account) seed(ctx context.Context, tok *oauth2.Token, replace bool) (bool, error) {
	rec := tokenFromOAuth2(tok, a.c.now())
	if rec == nil || rec.AccessToken == "" && rec.RefreshToken == "" {
		return false, errors.New("client: seeding needs an access token or a refresh token")
	}
	if strings.EqualFold(rec.TokenType, tokensource.DPoPTokenType) {
		// Its key is not in an oauth2.Token: the tokens could never be
		// used or refreshed, and a refresh without the proof may cost
		// the grant.
		return false, fmt.Errorf("%w: DPoP-bound tokens cannot be seeded without their key; log in instead", ErrUnsupported)
	}
	release, err := a.beginLogin()
	if err != nil {
		return false, err
	}
	defer release()
	if !replace {
		if _, err := a.src.Current(ctx); err == nil {
			return false, nil
		} else if !errors.Is(err, tokensource.ErrLoginRequired) {
			return false, fmt.Errorf("client: seed: %w", err)
		}
	}
	if rec.RefreshToken != "" {
		dead, err := a.c.book.isDead(ctx, a.key, rec.RefreshToken)
		if err != nil {
			return false, fmt.Errorf("client: seed: reading the dead refresh tokens: %w", err)
		}
		if dead {
			a.c.log.Warn("client: refusing a refresh token this account already lost", slog.String("key", a.key))
			return false, withKind(ErrDeadRefreshToken, &tokensource.LoginRequiredError{Reason: tokensource.ReasonRejected})
		}
	}
	if err := a.checkSeededIDToken(ctx, rec); err != nil {
		return false, err
	}
	if rec.TokenType == "" {
		rec.TokenType = "Bearer"
	}
	setErr := a.src.SetToken(ctx, rec)
	if !replace && rec.RefreshToken != "" {
		// A refresh token is seeded at most once per account: once the
		// account has lost it (rotated away, rejected, logged out), a
		// later Seed of the same token, as every start of a program that
		// keeps it in its configuration makes, is refused.
		if err := a.c.book.markDead(ctx, a.key, rec.RefreshToken); err != nil {
			a.c.log.Warn("client: recording the seeded refresh token failed", slog.String("key", a.key), slog.String("error", err.Error()))
		}
	}
	if setErr != nil {
		return true, fmt.Errorf("client: seed: saving the tokens failed (they are used from memory): %w", setErr)
	}
	a.c.indexSet(ctx, a.key, true)
	a.c.log.Info("client: tokens seeded", slog.String("key", a.key), slog.Bool("refresh_token", rec.RefreshToken != ""))
	return true, nil
}

// checkSeededIDToken verifies rec's ID token but its expiry, or drops it
// without an Issuer.
func (a *Account) checkSeededIDToken(ctx context.Context, rec *storage.Token) error {
	switch {
	case a.c.ids == nil:
		rec.IDToken = ""
	case rec.IDToken != "":
		if _, err := a.c.ids.verify(ctx, rec.IDToken, checks{}); err != nil {
			return fmt.Errorf("client: seed: %w", err)
		}
	}
	return nil
}
