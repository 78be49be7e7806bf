package client_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestOfflineStartAgainstProvider: after a login against the real
// provider, a client started again on the same store while the provider
// is down (its listener closed) is made, gives its account a valid token
// and verifies its ID token, without a single request: discovery, keys
// and tokens all come from the store.
func TestOfflineStartAgainstProvider(t *testing.T) {
	p, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	store := storage.NewMemory()
	c := newClient(t, nativeConfig(p, store))
	a := account(t, c)
	login(t, p, a)
	first, err := a.TokenSource().Token()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := p.Close(); err != nil { // the provider is unreachable from now on
		t.Fatal(err)
	}

	// Nothing listens at the issuer: any request would fail.
	cfg := nativeConfig(p, store)
	cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("request while offline: %s %s", r.Method, r.URL.Redacted())
		return nil, errors.New("offline")
	})}
	c2 := newClient(t, cfg)
	a2 := account(t, c2)
	tok, err := a2.TokenSource().Token()
	if err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("offline Token: got %v, %v; want the cached token", tok, err)
	}
	if _, err := a2.IDToken(t.Context()); err != nil {
		t.Errorf("offline IDToken: %v, want the cached ID token verified with the cached keys", err)
	}
}

// TestSeededDeadTokenAgainstProvider: a token the real provider revoked is
// presented once; seeding it again at the next start is refused without a
// request.
func TestSeededDeadTokenAgainstProvider(t *testing.T) {
	p := startOP(t, oidctest.Options{AccessTokenLifetime: time.Hour})
	store := storage.NewMemory()
	c := newClient(t, nativeConfig(p, store))
	a := account(t, c)
	login(t, p, a)
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The program keeps this token in its configuration and seeds it.
	p.RevokeUser(oidctest.DefaultUsername)
	p.ExpireAccessTokens()
	_, err = forceRefresh(t, a)
	wantErr(t, err, tokensource.ErrLoginRequired)
	c.Close()

	before := p.TokenRequests("refresh_token")
	c2 := newClient(t, nativeConfig(p, store))
	a2 := account(t, c2)
	tok := oauth2Token(rec)
	ok, err := a2.Seed(t.Context(), tok)
	if ok || !errors.Is(err, client.ErrDeadRefreshToken) {
		t.Fatalf("Seed of the revoked token: got %t, %v; want false and ErrDeadRefreshToken", ok, err)
	}
	if n := p.TokenRequests("refresh_token") - before; n != 0 {
		t.Errorf("got %d refresh requests, want 0", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// oauth2Token is rec as a program that kept it would hold it.
func oauth2Token(rec *storage.Token) *oauth2.Token {
	return &oauth2.Token{AccessToken: rec.AccessToken, TokenType: "Bearer", RefreshToken: rec.RefreshToken, Expiry: rec.Expiry}
}
