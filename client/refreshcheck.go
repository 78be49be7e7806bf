package client

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// checkRefresh is the accounts' tokensource.Config.CheckRefresh: it vets
// the ID token a refresh returned before the tokens are saved.
//
// A refreshed ID token must be valid and keep the previous one's iss, sub,
// aud, azp and, when the previous one had it, auth_time (OpenID Connect
// Core §12.2); a difference is an error ([ErrIssuerMismatch],
// [ErrSubjectMismatch], [ErrAudienceMismatch], [ErrAuthTimeMismatch]),
// which makes the account log in again. An ID token that cannot be
// verified for another reason (the JWKS is unreachable, a bad signature,
// expired, a nonce other than the original) is dropped with a warning and
// the previous one kept: the refresh itself is still good. A refresh
// without an ID token keeps the previous one (tokensource does that).
func (a *Account) checkRefresh(ctx context.Context, prev, next *storage.Token) error {
	prevID := ""
	if prev != nil {
		prevID = prev.IDToken
	}
	if next.IDToken == "" || next.IDToken == prevID {
		return nil
	}
	keep := func(why error) error {
		a.c.log.Warn("client: dropping the refreshed ID token, keeping the previous one",
			slog.String("key", a.key), slog.String("error", why.Error()))
		next.IDToken = prevID
		return nil
	}
	got, err := a.c.ids.verify(ctx, next.IDToken, checks{accessToken: next.AccessToken, expiry: true})
	switch {
	case errors.Is(err, ErrIssuerMismatch), errors.Is(err, ErrAudienceMismatch):
		return err
	case err != nil:
		return keep(err)
	case prevID == "":
		return nil
	}
	// The previous ID token comes from the account's own store and was
	// verified when it was received: its claims are read, not verified
	// again, so that a JWKS outage cannot block the comparison.
	old, err := unverifiedClaims(prevID)
	if err != nil {
		return keep(err)
	}
	switch {
	case got.Subject != old.Subject:
		return kindf(ErrSubjectMismatch, "the refreshed ID token names another subject")
	case got.Issuer != old.Issuer:
		return kindf(ErrIssuerMismatch, "the refreshed ID token has another issuer")
	case !sameSet(got.Audience, old.Audience):
		return kindf(ErrAudienceMismatch, "the refreshed ID token has another audience")
	case got.priv().azp != old.AZP:
		return kindf(ErrAudienceMismatch, "the refreshed ID token has another azp")
	case old.AuthTime != nil && (got.priv().authTime == nil || *got.priv().authTime != *old.AuthTime):
		return kindf(ErrAuthTimeMismatch, "the refreshed ID token's auth_time is not the original's")
	case got.priv().nonce != "" && got.priv().nonce != old.Nonce:
		return keep(kindf(ErrNonceMismatch, "the refreshed ID token has another nonce"))
	}
	return nil
}

// unverifiedClaims decodes a JWT's payload without verifying it.
func unverifiedClaims(jwt string) (*basicClaims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("stored ID token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("stored ID token: bad payload encoding")
	}
	return parseClaims(payload)
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}
