package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

func TestTokenFromOAuth2(t *testing.T) {
	exp := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	base := oauth2.Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", Expiry: exp, ExpiresIn: 3600}
	for _, tc := range []struct {
		name      string
		extra     map[string]any
		wantRefr  time.Time
		wantID    string
		wantScope string
	}{
		{"plain", nil, time.Time{}, "", ""},
		{"id and scope", map[string]any{"id_token": "idt", "scope": "openid offline_access"}, time.Time{}, "idt", "openid offline_access"},
		{"keycloak", map[string]any{"refresh_expires_in": float64(1800)}, exp.Add(-time.Hour).Add(30 * time.Minute), "", ""},
		{"entra", map[string]any{"refresh_token_expires_in": "86400"}, exp.Add(23 * time.Hour), "", ""},
		{"keycloak offline: 0 is no expiry", map[string]any{"refresh_expires_in": float64(0)}, time.Time{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := base.WithExtra(tc.extra)
			got := client.TokenFromOAuth2(tok)
			if got.AccessToken != "at" || got.RefreshToken != "rt" || got.TokenType != "Bearer" || !got.Expiry.Equal(exp) {
				t.Errorf("tokens: got %v", got)
			}
			if !got.RefreshExpiry.Equal(tc.wantRefr) || got.IDToken != tc.wantID || got.Scope != tc.wantScope {
				t.Errorf("got RefreshExpiry %v IDToken set %t Scope %q, want %v %t %q", got.RefreshExpiry, got.IDToken != "", got.Scope, tc.wantRefr, tc.wantID != "", tc.wantScope)
			}
		})
	}
	if client.TokenFromOAuth2(nil) != nil {
		t.Error("TokenFromOAuth2(nil) is not nil")
	}
}

// TestSeedOnlyWhenNeverLoggedIn: Seed stores into an empty account, and
// leaves an account that has tokens alone.
func TestSeedOnlyWhenNeverLoggedIn(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	store := storage.NewMemory()
	a := account(t, fakeClient(t, op, func(c *client.Config) { c.Store = store }))
	ok, err := a.Seed(t.Context(), &oauth2.Token{AccessToken: "at-s", RefreshToken: "rt-s", Expiry: time.Now().Add(time.Hour)})
	if !ok || err != nil {
		t.Fatalf("first Seed: got %t, %v; want true, nil", ok, err)
	}
	ok, err = a.Seed(t.Context(), &oauth2.Token{AccessToken: "at-x", RefreshToken: "rt-x", Expiry: time.Now().Add(time.Hour)})
	if ok || err != nil {
		t.Fatalf("second Seed: got %t, %v; want false, nil", ok, err)
	}
	if rec, err := store.Load(t.Context(), a.Key()); err != nil || rec.RefreshToken != "rt-s" {
		t.Fatalf("stored after two Seeds: %v, %v; want rt-s", rec, err)
	}
	if tok, err := a.TokenSource().Token(); err != nil || tok.AccessToken != "at-s" {
		t.Errorf("Token: %v, %v", tok, err)
	}
	if got := countTokenRequests(op); got != 0 {
		t.Errorf("token requests: got %d, want 0", got)
	}
}

// TestSeedDeadRefreshToken: a seeded refresh token the provider declares
// dead is presented once; seeding it again, in the same process or after
// a restart, is refused without a request, and the store never holds it.
func TestSeedDeadRefreshToken(t *testing.T) {
	op := (&fakeOP{}).serve(t) // the token endpoint answers invalid_grant
	store := storage.NewMemory()
	edit := func(c *client.Config) { c.Store = store }
	dead := &oauth2.Token{AccessToken: "at-old", RefreshToken: "rt-dead-canary", Expiry: time.Now().Add(-time.Hour)}

	a := account(t, fakeClient(t, op, edit))
	if ok, err := a.Seed(t.Context(), dead); !ok || err != nil {
		t.Fatalf("Seed: %t, %v", ok, err)
	}
	_, err := a.TokenSource().Token()
	wantErr(t, err, tokensource.ErrLoginRequired)
	if got := countTokenRequests(op); got != 1 {
		t.Fatalf("token requests after the first refresh: got %d, want 1", got)
	}
	for i, acc := range []*client.Account{a, account(t, fakeClient(t, op, edit))} { // same process, then a restart
		ok, err := acc.Seed(t.Context(), dead)
		if ok || !errors.Is(err, client.ErrDeadRefreshToken) || !errors.Is(err, tokensource.ErrLoginRequired) {
			t.Fatalf("Seed %d of the dead token: got %t, %v; want ErrDeadRefreshToken", i, ok, err)
		}
		if strings.Contains(formats(err), "rt-dead-canary") {
			t.Errorf("the error shows the refresh token: %v", err)
		}
		wantErr(t, acc.SetToken(t.Context(), dead), client.ErrDeadRefreshToken)
		_, err = acc.TokenSource().Token()
		wantErr(t, err, tokensource.ErrLoginRequired)
	}
	if got := countTokenRequests(op); got != 1 {
		t.Errorf("token requests: got %d, want 1 (the dead token presented once)", got)
	}
	// Another refresh token is accepted.
	fresh := &oauth2.Token{AccessToken: "at-new", RefreshToken: "rt-new", Expiry: time.Now().Add(time.Hour)}
	if ok, err := a.Seed(t.Context(), fresh); !ok || err != nil {
		t.Errorf("Seed of a new token: %t, %v", ok, err)
	}
}

// TestReservedKeys: the client's own keys are not account keys.
func TestReservedKeys(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	c := fakeClient(t, op)
	if _, err := c.Account(client.ReservedKeyPrefix + "dead:x"); err == nil {
		t.Error("Account with a reserved key: no error")
	}
}

// TestSeedOncePerAccount: a program seeds the token of its configuration
// at every start. The provider rotated it, then revoked the rotated one
// and its record was deleted: seeding the original again is refused
// without a request, though that token itself was never declared dead.
func TestSeedOncePerAccount(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	store := storage.NewMemory()
	a := account(t, fakeClient(t, op, func(c *client.Config) { c.Store = store }))
	orig := &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-original-canary", Expiry: time.Now().Add(time.Hour)}
	if ok, err := a.Seed(t.Context(), orig); !ok || err != nil {
		t.Fatalf("Seed: %t, %v", ok, err)
	}
	// What a rotation and a later rejection leave: the record is gone.
	// The program starts again and seeds the same token.
	store.Delete(t.Context(), a.Key())
	a = account(t, fakeClient(t, op, func(c *client.Config) { c.Store = store }))
	before := countTokenRequests(op)
	ok, err := a.Seed(t.Context(), orig)
	if ok || !errors.Is(err, client.ErrDeadRefreshToken) || !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Fatalf("second Seed of the same token: got %t, %v; want false and ErrDeadRefreshToken", ok, err)
	}
	if n := countTokenRequests(op) - before; n != 0 {
		t.Errorf("got %d token requests, want 0", n)
	}
}
