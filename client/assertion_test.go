package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// assertionOP is the fake OP behind a front that verifies the
// private_key_jwt client authentication of every token, revocation and
// device authorization request, and answers invalid_client (saying why)
// when it fails. With echo, the revocation endpoint refuses every request
// with a description that repeats the assertion it got.
type assertionOP struct {
	*fakeOP
	check *tokentest.AssertionChecker
	echo  bool

	mu    sync.Mutex
	paths []string // the paths of the requests that were checked
}

func serveAssertionOP(t *testing.T, pub crypto.PublicKey, alg string) *assertionOP {
	t.Helper()
	a := &assertionOP{fakeOP: &fakeOP{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	a.check = &tokentest.AssertionChecker{Key: pub, Alg: alg, KeyID: "client-key", ClientID: fakeClientID, Audience: srv.URL}
	return a
}

func (a *assertionOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token", "/revoke", "/device":
		r.ParseForm()
		a.mu.Lock()
		a.paths = append(a.paths, r.URL.Path)
		a.mu.Unlock()
		if err := a.check.Check(r); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": err.Error()})
			return
		}
		if a.echo && r.URL.Path == "/revoke" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad " + r.PostForm.Get("client_assertion")})
			return
		}
	}
	a.fakeOP.ServeHTTP(w, r)
}

func clientKeys(t *testing.T) []struct {
	alg    string
	signer crypto.Signer
} {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		alg    string
		signer crypto.Signer
	}{{"RS256", otherKey()}, {"ES256", ec}, {"EdDSA", ed}}
}

// TestClientAssertionEndpoints: with Config.ClientAuth, the code exchange,
// a refresh, the device authorization and its token request, and both
// revocations authenticate with a fresh assertion (aud: the issuer) that
// the provider verifies with the public key, and no secret.
func TestClientAssertionEndpoints(t *testing.T) {
	for _, k := range clientKeys(t) {
		t.Run(k.alg, func(t *testing.T) {
			op := serveAssertionOP(t, k.signer.Public(), k.alg)
			c := fakeClient(t, op.fakeOP, func(cfg *client.Config) {
				cfg.ClientSecret = "never-sent"
				cfg.ClientAuth = &tokensource.ClientAssertion{Signer: k.signer, KeyID: "client-key"}
			})
			a := account(t, c)
			webLogin(t, op.fakeOP, a)
			if _, err := forceRefresh(t, a); err != nil {
				t.Fatalf("refresh: got %v, want a token", err)
			}
			dev, err := c.Account("device")
			if err != nil {
				t.Fatal(err)
			}
			op.set(func(op *fakeOP) {
				op.device = func() (int, any) {
					return 200, map[string]any{"device_code": "dc", "user_code": "UC", "verification_uri": "https://op.example/device", "expires_in": 60, "interval": 1}
				}
				op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-d", "rt-d", "") }
			})
			if err := dev.LoginDevice(t.Context(), func(client.DeviceCode) {}); err != nil {
				t.Fatalf("LoginDevice: got %v, want a login", err)
			}
			if err := a.Logout(t.Context()); err != nil {
				t.Fatalf("Logout: got %v, want both tokens revoked", err)
			}
			op.mu.Lock()
			defer op.mu.Unlock()
			count := map[string]int{}
			for _, p := range op.paths {
				count[p]++
			}
			// The login, at least one refresh, the device token request.
			if count["/token"] < 3 || count["/device"] != 1 || count["/revoke"] != 2 {
				t.Errorf("got requests %v, want the code exchange, a refresh, a device authorization and its token request, two revocations", op.paths)
			}
			if got := op.check.Accepted(); got != len(op.paths) {
				t.Errorf("got %d distinct assertions accepted, want %d (one per request)", got, len(op.paths))
			}
		})
	}
}

// TestClientAssertionAudience: an explicit Audience (the token endpoint,
// as Entra wants) is used at every endpoint instead of the issuer.
func TestClientAssertionAudience(t *testing.T) {
	op := serveAssertionOP(t, otherKey().Public(), "PS256")
	op.check.Audience = op.URL + "/token"
	c := fakeClient(t, op.fakeOP, func(cfg *client.Config) {
		cfg.ClientAuth = &tokensource.ClientAssertion{Signer: otherKey(), Algorithm: "PS256", KeyID: "client-key", Audience: op.URL + "/token"}
	})
	a := account(t, c)
	webLogin(t, op.fakeOP, a)
	if err := a.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: got %v, want both tokens revoked", err)
	}
	if got := op.check.Accepted(); got != 3 {
		t.Errorf("got %d assertions accepted, want 3", got)
	}
}

// TestClientAssertionNotInRevocationError: a revocation endpoint that
// echoes the assertion into its error: the error keeps the provider's code
// but not the assertion, whatever the verb.
func TestClientAssertionNotInRevocationError(t *testing.T) {
	op := serveAssertionOP(t, otherKey().Public(), "RS256")
	op.echo = true
	var seen []string
	op.check = &tokentest.AssertionChecker{Key: otherKey().Public(), Alg: "RS256", KeyID: "client-key", ClientID: fakeClientID, Audience: op.URL}
	c := fakeClient(t, op.fakeOP, func(cfg *client.Config) {
		cfg.ClientAuth = &tokensource.ClientAssertion{Signer: recordingSigner{otherKey(), &seen}, KeyID: "client-key"}
	})
	a := account(t, c)
	webLogin(t, op.fakeOP, a)
	err := a.Logout(t.Context())
	var ee *client.EndpointError
	if !errors.As(err, &ee) || ee.Code != "invalid_request" || !strings.Contains(ee.Description, "bad ") {
		t.Fatalf("got %v, want the revocation endpoint's invalid_request", err)
	}
	out := formats(err) + formats(ee) + ee.Description
	j, _ := json.Marshal(ee)
	out += string(j)
	if len(seen) < 3 {
		t.Fatalf("sanity: %d signatures made, want 3", len(seen))
	}
	// A JWT's header starts with {"alg": whatever the descriptions cut.
	if strings.Contains(out, "eyJhbGciOi") {
		t.Fatalf("an assertion leaked:\n%s", out)
	}
	for _, sig := range seen {
		if strings.Contains(out, sig[:20]) {
			t.Fatalf("an assertion leaked:\n%s", out)
		}
	}
}

// recordingSigner is a crypto.Signer, as an HSM would be, that records the
// base64url signatures it makes.
type recordingSigner struct {
	crypto.Signer
	sigs *[]string
}

func (s recordingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err == nil {
		*s.sigs = append(*s.sigs, base64.RawURLEncoding.EncodeToString(sig))
	}
	return sig, err
}

// TestClientAssertionServiceAccount: a service account needs no secret
// with ClientAuth: its client credentials requests carry the assertion.
func TestClientAssertionServiceAccount(t *testing.T) {
	op := serveAssertionOP(t, otherKey().Public(), "RS256")
	op.set(func(op *fakeOP) {
		op.token = func(form url.Values) (int, any) {
			return 200, map[string]any{"access_token": "svc-at", "token_type": "Bearer", "expires_in": 3600}
		}
	})
	c := fakeClient(t, op.fakeOP, func(cfg *client.Config) {
		cfg.ClientAuth = &tokensource.ClientAssertion{Signer: otherKey(), KeyID: "client-key"}
	})
	svc, err := c.ServiceAccount("svc")
	if err != nil {
		t.Fatalf("ServiceAccount: got %v, want an account", err)
	}
	tok, err := svc.TokenSource().TokenContext(t.Context())
	if err != nil || tok.AccessToken != "svc-at" {
		t.Fatalf("got %v, %v; want svc-at", tok, err)
	}
	if got := op.check.Accepted(); got != 1 {
		t.Errorf("got %d assertions accepted, want 1", got)
	}
}

// TestClientAssertionConfig: a Config with ClientAuth prints no key, and
// one whose key cannot sign is refused by New.
func TestClientAssertionConfig(t *testing.T) {
	k := otherKey()
	cfg := client.Config{Issuer: "https://op.example", ClientID: "app", ClientAuth: &tokensource.ClientAssertion{Signer: k, KeyID: "kid-9"}}
	out := formats(cfg) + formats(&cfg)
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out += string(j)
	if !strings.Contains(out, "kid-9") {
		t.Errorf("sanity: the key ID is not shown: %s", out)
	}
	if strings.Contains(out, k.D.String()) || strings.Contains(out, k.Primes[0].String()) {
		t.Errorf("the private key leaked: %s", out)
	}
	for _, ca := range []*tokensource.ClientAssertion{{}, {Signer: k, Algorithm: "ES256"}} {
		bad := client.Config{Endpoints: client.Endpoints{Token: "https://op.example/token"}, ClientID: "app", ClientAuth: ca}
		if _, err := client.New(t.Context(), bad); err == nil {
			t.Errorf("New with ClientAuth %v: got no error, want one", ca)
		}
	}
}

// TestClientAssertionAudienceWithoutIssuer: without an Issuer the default
// audience is the token endpoint URL, at the revocation endpoint too.
func TestClientAssertionAudienceWithoutIssuer(t *testing.T) {
	op := serveAssertionOP(t, otherKey().Public(), "RS256")
	op.check.Audience = op.URL + "/token"
	op.set(func(op *fakeOP) {
		op.token = func(form url.Values) (int, any) { return 200, tokenResponse("at-p", "rt-p", "") }
	})
	c := newClient(t, client.Config{
		ClientID:   fakeClientID,
		Endpoints:  client.Endpoints{Token: op.URL + "/token", Revocation: op.URL + "/revoke"},
		ClientAuth: &tokensource.ClientAssertion{Signer: otherKey(), KeyID: "client-key"},
	})
	a := account(t, c)
	if err := a.LoginPassword(t.Context(), "user", "pw"); err != nil {
		t.Fatalf("LoginPassword: got %v, want a login", err)
	}
	if err := a.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: got %v, want both tokens revoked", err)
	}
	if got := op.check.Accepted(); got != 3 {
		t.Errorf("got %d assertions accepted, want 3", got)
	}
}
