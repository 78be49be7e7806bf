package nodeop

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if !strings.HasPrefix(s.Issuer(), "http://127.0.0.1:") {
		t.Errorf("issuer %q, want http://127.0.0.1:PORT", s.Issuer())
	}
	for name, want := range map[string][]string{
		"dpop_signing_alg_values_supported":     {"ES256", "EdDSA", "RS256"},
		"token_endpoint_auth_methods_supported": {"private_key_jwt", "none"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials"},
	} {
		got, _ := s.Discovery(name).([]any)
		for _, w := range want {
			if !slices.Contains(got, any(w)) {
				t.Errorf("%s = %v, want it to list %s", name, got, w)
			}
		}
	}
	e := s.Endpoints()
	for name, u := range map[string]string{"token": e.Token, "userinfo": e.Userinfo, "revocation": e.Revocation, "authorization": e.Authorization} {
		if !strings.HasPrefix(u, s.Issuer()+"/") {
			t.Errorf("%s endpoint %q, want one under the issuer", name, u)
		}
	}
}

// TestPrivateKeyJWT: the confidential client authenticates with an
// assertion signed by the registered key, with the issuer or the token
// endpoint as aud; other assertions are refused.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		auth     *tokensource.ClientAssertion
		clientID string
		audience string
		ok       bool
	}{
		{"issuer audience", s.ClientAssertion(), ServiceClientID, s.Issuer(), true},
		{"token endpoint audience", s.ClientAssertion(), ServiceClientID, s.Endpoints().Token, true},
		{"unregistered key", &tokensource.ClientAssertion{Signer: otherKey, KeyID: ClientKeyID}, ServiceClientID, s.Issuer(), false},
		{"other audience", s.ClientAssertion(), ServiceClientID, "https://elsewhere.example/", false},
		{"other client", s.ClientAssertion(), NativeClientID, s.Issuer(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
			if err := tt.auth.AuthenticateForm(form, tt.clientID, tt.audience, time.Now()); err != nil {
				t.Fatal(err)
			}
			a := send(t, http.MethodPost, s.Endpoints().Token, form, nil)
			if !tt.ok {
				if a.status != http.StatusUnauthorized || a.str("error") != "invalid_client" {
					t.Fatalf("got %d %q, want 401 invalid_client", a.status, a.str("error"))
				}
				return
			}
			if a.status != http.StatusOK || a.str("access_token") == "" || a.str("token_type") != "Bearer" {
				t.Fatalf("got %d %v, want 200 with a Bearer token", a.status, a)
			}
			if got := a.json["expires_in"]; got != float64(60) {
				t.Errorf("expires_in %v, want 60", got)
			}
		})
	}
}

// TestAssertionReplay: an assertion is accepted once (its jti is
// remembered), so a client must make a fresh one for every request.
func TestAssertionReplay(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	form := url.Values{"grant_type": {"client_credentials"}}
	if err := s.ClientAssertion().AuthenticateForm(form, ServiceClientID, s.Issuer(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if a := send(t, http.MethodPost, s.Endpoints().Token, form, nil); a.status != http.StatusOK {
		t.Fatalf("first use: got %d %v", a.status, a)
	}
	if a := send(t, http.MethodPost, s.Endpoints().Token, form, nil); a.status != http.StatusUnauthorized {
		t.Fatalf("replay: got %d %v, want 401", a.status, a)
	}
}

// TestDPoPRequired: the DPoP clients' token requests without a proof are
// refused; with one, after the nonce the server asks for, the token is a
// DPoP token.
func TestDPoPRequired(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{AccessTokenLifetime: 5 * time.Second})
	token := s.Endpoints().Token
	form := func() url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		if err := s.ClientAssertion().AuthenticateForm(f, ServiceDPoPClientID, s.Issuer(), time.Now()); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := send(t, http.MethodPost, token, form(), nil)
	if a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
		t.Fatalf("without a proof: got %d %v, want 400 invalid_grant", a.status, a)
	}
	p := newProver(t)
	first, last := p.sendDPoP(t, http.MethodPost, token, form, "")
	if first.status != http.StatusBadRequest || first.str("error") != "use_dpop_nonce" || first.header.Get("DPoP-Nonce") == "" {
		t.Errorf("first proof: got %d %v, want 400 use_dpop_nonce with a DPoP-Nonce header", first.status, first)
	}
	if last.status != http.StatusOK || last.str("token_type") != "DPoP" {
		t.Fatalf("proof with nonce: got %d %v, want a DPoP token", last.status, last)
	}
	if got := last.json["expires_in"]; got != float64(5) {
		t.Errorf("expires_in %v, want 5", got)
	}
}

// TestOptionalNonce: with OptionalDPoPNonce a fresh proof without a nonce
// is accepted at once.
func TestOptionalNonce(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{OptionalDPoPNonce: true})
	f := url.Values{"grant_type": {"client_credentials"}}
	if err := s.ClientAssertion().AuthenticateForm(f, ServiceDPoPClientID, s.Issuer(), time.Now()); err != nil {
		t.Fatal(err)
	}
	first, _ := newProver(t).sendDPoP(t, http.MethodPost, s.Endpoints().Token, fixed(f), "")
	if first.status != http.StatusOK || first.str("token_type") != "DPoP" {
		t.Fatalf("got %d %v, want a DPoP token at once", first.status, first)
	}
}

func TestLoginDeny(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	cfg := s.OAuth2Config(NativeClientID, "openid")
	cfg.RedirectURL = "http://127.0.0.1:49153/callback"
	redirect, err := s.Login(t.Context(), cfg.AuthCodeURL("st4te", oauthS256()...), "bob", false)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "127.0.0.1:49153" || u.Path != "/callback" || q.Get("error") != "access_denied" || q.Get("state") != "st4te" || q.Has("code") {
		t.Fatalf("redirect %s, want the callback with error=access_denied and the state", redirect)
	}
}

func TestLoginUnknownUser(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: []string{"carol"}})
	cfg := s.OAuth2Config(NativeClientID, "openid")
	_, err := s.Login(t.Context(), cfg.AuthCodeURL("st4te", oauthS256()...), "alice", true)
	if !errors.Is(err, ErrLoginRejected) {
		t.Fatalf("got %v, want ErrLoginRejected", err)
	}
	if _, err := s.Login(t.Context(), cfg.AuthCodeURL("st4te", oauthS256()...), "carol", true); err != nil {
		t.Fatalf("carol: %v", err)
	}
}

// TestStopped: the provider is gone once the test that started it ends.
// It is not parallel, so that no other test's provider can take the port.
func TestStopped(t *testing.T) {
	var issuer string
	t.Run("server", func(t *testing.T) { issuer = Start(t, Options{}).Issuer() })
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after its test ended", u.Host)
	}
}
