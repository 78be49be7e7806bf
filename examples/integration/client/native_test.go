package client_test

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestNativeLoginEndToEnd logs in through the loopback listener against the
// real OP, uses the tokens, and shows that a new Client on the same store
// (the next process start) needs no login.
func TestNativeLoginEndToEnd(t *testing.T) {
	noLeaks(t)
	p := startOP(t, oidctest.Options{})
	store := storage.NewMemory()
	c := newClient(t, nativeConfig(p, store))
	a := account(t, c)
	login(t, p, a)

	ctx := t.Context()
	rec, err := a.TokenSource().Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RefreshToken == "" || rec.IDToken == "" || rec.AuthTime.IsZero() {
		t.Fatalf("saved record: got %v, want refresh token, ID token and AuthTime", rec)
	}
	id, err := a.IDToken(ctx)
	if err != nil {
		t.Fatalf("IDToken: %v", err)
	}
	if id.Subject != oidctest.DefaultUsername || id.Issuer != p.Issuer() || id.AuthTime.IsZero() {
		t.Errorf("ID token: got %v (auth_time %v), want sub %s from %s with auth_time", id, id.AuthTime, oidctest.DefaultUsername, p.Issuer())
	}
	var profile struct {
		Email string `json:"email"`
	}
	if err := id.Claims(&profile); err != nil {
		t.Errorf("Claims: %v", err)
	}
	resp, err := a.HTTPClient().Get(p.Endpoints().Resource)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("resource: got %d, want 200", resp.StatusCode)
	}

	c2 := newClient(t, nativeConfig(p, store))
	a2 := account(t, c2)
	tok, err := a2.TokenSource().TokenContext(ctx)
	if err != nil || tok.AccessToken != rec.AccessToken {
		t.Fatalf("second process: got %v, want the stored access token", err)
	}
	if c2.Close() != nil || c.Close() != nil {
		t.Error("Close failed")
	}
	if _, err := c2.Account("x"); err != client.ErrClosed {
		t.Errorf("Account after Close: got %v, want ErrClosed", err)
	}
}
