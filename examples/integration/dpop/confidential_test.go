package dpop_test

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/nodeop"
)

// TestConfidentialDPoP: the confidential client that authenticates with
// private_key_jwt and requires DPoP: a service account (client
// credentials) gets DPoP-bound tokens with a key of its own, and a user
// logs in with the authorization code flow, refreshes and logs out, every
// request carrying a fresh assertion and a proof (the provider spends the
// assertion of a request it answers use_dpop_nonce: the retries need new
// ones).
func TestConfidentialDPoP(t *testing.T) {
	e := newEnv(t, nodeop.Options{})
	cfg := e.config(nodeop.ServiceDPoPClientID, "RS256", nil)
	cfg.ClientAuth = e.srv.ClientAssertion()
	c := newClient(t, cfg)

	svc, err := c.ServiceAccount("svc")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := svc.TokenSource().TokenContext(t.Context())
	if err != nil || tok.Type() != "DPoP" {
		t.Fatalf("service account: %v, %v; want a DPoP token", tok.Type(), err)
	}
	svcKey := svc.TokenSource().DPoPKey()
	if svcKey == nil || svcKey.Algorithm() != "RS256" {
		t.Fatalf("service account key %v, want an RS256 key", svcKey)
	}

	a, err := c.Account("user")
	if err != nil {
		t.Fatal(err)
	}
	e.login(t, a)
	rec := current(t, a)
	if a.TokenSource().DPoPKey().Thumbprint() == svcKey.Thumbprint() {
		t.Error("the user shares the service account's key")
	}
	if next := refresh(t, a); next.RefreshToken == rec.RefreshToken {
		t.Error("the refresh did not rotate the refresh token")
	}
	if info, err := a.UserInfo(t.Context()); err != nil || info.Subject != "alice" {
		t.Errorf("UserInfo: %v, %v; want alice", info, err)
	}
	lr, err := a.LogoutWith(t.Context(), client.LogoutOptions{})
	if err != nil || lr.Revocation != client.Revoked {
		t.Fatalf("LogoutWith: %v, %v; want the tokens revoked", lr, err)
	}
	noLeak(t, e.logs.String(), append(e.wire.sent(), rec.DPoPKey, rec.RefreshToken, rec.AccessToken)...)
}

// TestDeviceDPoP: the device login of the public DPoP client gets
// DPoP-bound tokens.
func TestDeviceDPoP(t *testing.T) {
	e := newEnv(t, nodeop.Options{})
	a := account(t, newClient(t, e.config(nodeop.NativeDPoPClientID, "ES256", nil)))
	approved := make(chan error, 1)
	err := a.LoginDevice(t.Context(), func(dc client.DeviceCode) {
		go func() { approved <- e.srv.ApproveDevice(t.Context(), dc.UserCode, "alice", true) }()
	})
	if err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	if err := <-approved; err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	current(t, a)
	if info, err := a.UserInfo(t.Context()); err != nil || info.Subject != "alice" {
		t.Errorf("UserInfo: %v, %v; want alice", info, err)
	}
}
