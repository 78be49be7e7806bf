package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestLogoutRealOP revokes at the OP: afterwards the refresh token is
// refused there and the access token by the resource; nothing is left
// locally.
func TestLogoutRealOP(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	store := storage.NewMemory()
	c := newClient(t, nativeConfig(p, store))
	a := account(t, c)
	login(t, p, a)
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	wantInvalidGrant(t, redeemAt(t, p, p.NativeClient(), rec.RefreshToken))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.Endpoints().Resource, nil)
	req.Header.Set("Authorization", "Bearer "+rec.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("resource with the revoked access token: got %d, want 401", resp.StatusCode)
	}
	if _, err := store.Load(t.Context(), c.DefaultKey()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("store after Logout: got %v, want ErrNotFound", err)
	}
	var lr *tokensource.LoginRequiredError
	if _, err := a.TokenSource().TokenContext(t.Context()); !errors.As(err, &lr) || lr.Reason != tokensource.ReasonLoggedOut {
		t.Errorf("TokenContext after Logout: got %v, want LoginRequired (logged out)", err)
	}
	if err := a.Logout(t.Context()); err != nil {
		t.Errorf("second Logout: %v", err)
	}
	// A new process start finds nothing either.
	if _, err := account(t, newClient(t, nativeConfig(p, store))).TokenSource().TokenContext(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Errorf("a new Client after Logout: got %v, want ErrLoginRequired", err)
	}
}

func TestLogoutRevocationFails(t *testing.T) {
	op := (&fakeOP{revokeCode: 503}).serve(t)
	store := storage.NewMemory()
	c := fakeClient(t, op, func(c *client.Config) { c.Store = store })
	a := account(t, c)
	webLogin(t, op, a)
	err := a.Logout(t.Context())
	var ee *client.EndpointError
	if !errors.Is(err, client.ErrNotRevoked) || !errors.As(err, &ee) || !ee.Temporary() || ee.StatusCode != 503 {
		t.Fatalf("Logout: got %v, want ErrNotRevoked with a temporary *EndpointError", err)
	}
	if _, err := store.Load(t.Context(), c.DefaultKey()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("store after a failed revocation: got %v, want ErrNotFound", err)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.revoked) != 2 {
		t.Fatalf("revocation requests: got %d, want 2", len(op.revoked))
	}
	for i, want := range []struct{ token, hint string }{{"rt-1", "refresh_token"}, {"at-1", "access_token"}} {
		f := op.revoked[i]
		if f.Get("token") != want.token || f.Get("token_type_hint") != want.hint || f.Get("client_id") != fakeClientID {
			t.Errorf("revocation %d: got token_type_hint=%q client_id=%q, want %s for %s", i, f.Get("token_type_hint"), f.Get("client_id"), want.hint, fakeClientID)
		}
	}
}

func TestLogoutWithoutRevocationEndpoint(t *testing.T) {
	op := (&fakeOP{noRevoke: true}).serve(t)
	a := account(t, fakeClient(t, op))
	webLogin(t, op, a)
	if err := a.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := a.TokenSource().Current(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Errorf("after Logout: got %v, want ErrLoginRequired", err)
	}
}

// TestLogoutCancelled deletes locally even when ctx is already done.
func TestLogoutCancelled(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	webLogin(t, op, a)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	wantErr(t, a.Logout(ctx), client.ErrNotRevoked)
	if _, err := a.TokenSource().Current(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Errorf("after Logout: got %v, want ErrLoginRequired", err)
	}
}

func TestUserInfoSubjectMismatch(t *testing.T) {
	op := (&fakeOP{userinfoSub: "someone-else"}).serve(t)
	a := account(t, fakeClient(t, op))
	_, err := a.UserInfo(t.Context())
	wantErr(t, err, tokensource.ErrLoginRequired) // not logged in yet
	webLogin(t, op, a)
	_, err = a.UserInfo(t.Context())
	wantErr(t, err, client.ErrSubjectMismatch)

	op.set(func(op *fakeOP) { op.userinfoSub = "user-1" })
	info, err := a.UserInfo(t.Context())
	if err != nil || info.Subject != "user-1" || info.Email != "u@example.com" || !info.EmailVerified {
		t.Fatalf("UserInfo: got %+v, %v", info, err)
	}
	var claims struct{ Email string }
	if err := info.Claims(&claims); err != nil || claims.Email != "u@example.com" {
		t.Errorf("Claims: got %+v, %v", claims, err)
	}
}
