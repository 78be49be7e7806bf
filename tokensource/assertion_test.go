package tokensource_test

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

// testKeys returns an RSA, a P-256 and an Ed25519 key, made once.
func testKeys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey, edKey
}

type keyCase struct {
	name    string
	signer  crypto.Signer
	alg     string // ClientAssertion.Algorithm
	wantAlg string
}

func keyCases(t testing.TB) []keyCase {
	r, e, ed := testKeys(t)
	return []keyCase{
		{"RS256", r, "", "RS256"},
		{"PS256", r, "PS256", "PS256"},
		{"ES256", e, "", "ES256"},
		{"EdDSA", ed, "", "EdDSA"},
	}
}

// TestClientAssertionRefresh: a Source authenticates every refresh with a
// fresh assertion that the endpoint verifies against the public key, the
// attempts after 503s included (each jti is new), and sends no secret.
func TestClientAssertionRefresh(t *testing.T) {
	for _, kc := range keyCases(t) {
		t.Run(kc.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Assertion = &tokentest.AssertionChecker{Key: kc.signer.Public(), Alg: kc.wantAlg, KeyID: "k1", ClientID: "client", Audience: srv.TokenURL()}
			var mu sync.Mutex
			fails := 2
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				if fails > 0 {
					fails--
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}
			store := storage.NewMemory()
			_, rt, _ := srv.Login()
			if err := store.Save(t.Context(), "acct", &storage.Token{AccessToken: "old", RefreshToken: rt, Expiry: time.Now().Add(-time.Minute), Version: 1}); err != nil {
				t.Fatal(err)
			}
			src, err := tokensource.New(tokensource.Config{
				OAuth2:        &oauth2.Config{ClientID: "client", ClientSecret: "must-not-be-sent", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
				ClientAuth:    &tokensource.ClientAssertion{Signer: kc.signer, Algorithm: kc.alg, KeyID: "k1"},
				Store:         store,
				Key:           "acct",
				RefreshBefore: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			tok, err := src.TokenContext(t.Context())
			if err != nil {
				t.Fatalf("got %v, want a refreshed token", err)
			}
			if !srv.Valid(tok.AccessToken) {
				t.Errorf("got access token %q, want one the server issued", tok.AccessToken)
			}
			if got, want := srv.Assertion.Accepted(), 3; got != want {
				t.Errorf("got %d distinct assertions accepted, want %d (two 503s, one success)", got, want)
			}
		})
	}
}

// TestClientAssertionRejected: an endpoint that refuses the assertion (a
// wrong key) answers invalid_client, and the Source reports it.
func TestClientAssertionRejected(t *testing.T) {
	r, e, _ := testKeys(t)
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.ClientID = "client"
	srv.Assertion = &tokentest.AssertionChecker{Key: r.Public(), Alg: "RS256", ClientID: "client", Audience: srv.TokenURL()}
	src, err := tokensource.New(tokensource.Config{
		OAuth2:     &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		ClientAuth: &tokensource.ClientAssertion{Signer: e},
		Grant:      tokensource.GrantClientCredentials,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = src.TokenContext(t.Context())
	if !errors.Is(err, tokensource.ErrInvalidClient) {
		t.Fatalf("got %v, want ErrInvalidClient", err)
	}
}

// TestExchangeWithAudience: ExchangeWith sends an assertion whose aud is
// ClientAuth.Audience when set, and the token endpoint otherwise.
func TestExchangeWithAudience(t *testing.T) {
	_, e, _ := testKeys(t)
	for _, tc := range []struct{ name, set, want string }{
		{"default", "", ""},
		{"issuer", "https://issuer.example", "https://issuer.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			want := tc.want
			if want == "" {
				want = srv.TokenURL()
			}
			srv.Assertion = &tokentest.AssertionChecker{Key: e.Public(), Alg: "ES256", ClientID: "svc", Audience: want}
			oc := &oauth2.Config{ClientID: "svc", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}
			_, err := tokensource.ExchangeWith(t.Context(), oc, url.Values{"grant_type": {"client_credentials"}},
				tokensource.ExchangeOptions{HTTPClient: srv.Client(), ClientAuth: &tokensource.ClientAssertion{Signer: e, Audience: tc.set}})
			if err != nil {
				t.Fatalf("got %v, want a token", err)
			}
		})
	}
}

func TestClientAssertionConfigErrors(t *testing.T) {
	r, _, _ := testKeys(t)
	oc := &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}}
	for _, tc := range []struct {
		name string
		oc   *oauth2.Config
		ca   *tokensource.ClientAssertion
	}{
		{"nil signer", oc, &tokensource.ClientAssertion{}},
		{"algorithm for another key", oc, &tokensource.ClientAssertion{Signer: r, Algorithm: "ES256"}},
		{"HMAC", oc, &tokensource.ClientAssertion{Signer: r, Algorithm: "HS256"}},
		{"no client ID", &oauth2.Config{Endpoint: oc.Endpoint}, &tokensource.ClientAssertion{Signer: r}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tokensource.New(tokensource.Config{OAuth2: tc.oc, ClientAuth: tc.ca}); err == nil {
				t.Fatal("got no error, want one")
			}
		})
	}
}

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyPEM(t *testing.T) {
	r, e, ed := testKeys(t)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(e)
	if err != nil {
		t.Fatal(err)
	}
	cert := pemOf(t, "CERTIFICATE", []byte("not parsed"))
	for _, tc := range []struct {
		name    string
		in      []byte
		wantAlg string
	}{
		{"PKCS#8 RSA", pemOf(t, "PRIVATE KEY", pkcs8(r)), "RS256"},
		{"PKCS#1 RSA", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r)), "RS256"},
		{"SEC 1 EC", pemOf(t, "EC PRIVATE KEY", sec1), "ES256"},
		{"PKCS#8 EC after a certificate", append(cert, pemOf(t, "PRIVATE KEY", pkcs8(e))...), "ES256"},
		{"PKCS#8 Ed25519", pemOf(t, "PRIVATE KEY", pkcs8(ed)), "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := tokensource.NewClientAssertionPEM(tc.in, "kid")
			if err != nil {
				t.Fatal(err)
			}
			jwt, err := ca.Sign("client", "https://op.example", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			chk := &tokentest.AssertionChecker{Key: ca.Signer.Public(), Alg: tc.wantAlg, KeyID: "kid", ClientID: "client", Audience: "https://op.example"}
			req := &http.Request{Header: http.Header{}, PostForm: url.Values{"client_id": {"client"}, "client_assertion": {jwt}, "client_assertion_type": {tokensource.ClientAssertionType}}}
			if err := chk.Check(req); err != nil {
				t.Fatalf("got %v, want a valid %s assertion", err, tc.wantAlg)
			}
		})
	}
}

func TestParsePrivateKeyPEMErrors(t *testing.T) {
	r, _, _ := testKeys(t)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, tokensource.ErrNoPEMKey},
		{"DER, not PEM", x509.MarshalPKCS1PrivateKey(r), tokensource.ErrNoPEMKey},
		{"a certificate only", pemOf(t, "CERTIFICATE", []byte{1}), tokensource.ErrNoPEMKey},
		{"public key", pemOf(t, "PUBLIC KEY", []byte{1}), tokensource.ErrNoPEMKey},
		{"PKCS#8 encrypted", pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1}), tokensource.ErrEncryptedKey},
		{"RFC 1423 encrypted", encrypted, tokensource.ErrEncryptedKey},
		{"garbage PKCS#8", pemOf(t, "PRIVATE KEY", []byte("garbage")), tokensource.ErrMalformedKey},
		{"garbage PKCS#1", pemOf(t, "RSA PRIVATE KEY", []byte("garbage")), tokensource.ErrMalformedKey},
		{"garbage SEC 1", pemOf(t, "EC PRIVATE KEY", []byte("garbage")), tokensource.ErrMalformedKey},
		{"PKCS#1 in a PKCS#8 block", pemOf(t, "PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r)), tokensource.ErrMalformedKey},
		{"X25519, which cannot sign", pemOf(t, "PRIVATE KEY", x25519), tokensource.ErrUnsupportedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokensource.NewClientAssertionPEM(tc.in, "")
			var ke *tokensource.KeyError
			if !errors.As(err, &ke) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want a *KeyError wrapping %v", err, tc.want)
			}
		})
	}
}

func TestLoadClientAssertion(t *testing.T) {
	_, e, _ := testKeys(t)
	der, err := x509.MarshalPKCS8PrivateKey(e)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, bad := dir+"/key.pem", dir+"/bad.pem"
	if err := os.WriteFile(good, pemOf(t, "PRIVATE KEY", der), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ca, err := tokensource.LoadClientAssertion(good, "k"); err != nil || ca.KeyID != "k" {
		t.Fatalf("got %v, %v; want an assertion with kid k", ca, err)
	}
	_, err = tokensource.LoadClientAssertion(bad, "k")
	var ke *tokensource.KeyError
	if !errors.As(err, &ke) || ke.Path != bad || !errors.Is(err, tokensource.ErrNoPEMKey) {
		t.Fatalf("got %v, want a *KeyError for %s", err, bad)
	}
	if _, err := tokensource.LoadClientAssertion(dir+"/missing.pem", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
}
