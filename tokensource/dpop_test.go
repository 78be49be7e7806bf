package tokensource_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

var dpopAlgs = []string{"ES256", "RS256", "EdDSA"}

var (
	dpopKeysMu sync.Mutex
	dpopKeys   = map[string]*tokensource.DPoPKey{}
)

// dpopKey returns a key for alg, made once per test binary (RSA keys
// take a while to make).
func dpopKey(t testing.TB, alg string) *tokensource.DPoPKey {
	t.Helper()
	dpopKeysMu.Lock()
	defer dpopKeysMu.Unlock()
	if k := dpopKeys[alg]; k != nil {
		return k
	}
	k, err := tokensource.NewDPoPKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	dpopKeys[alg] = k
	return k
}

// TestDPoPProofVerifies: a proof of every algorithm passes an independent
// verifier (go-jose): typ, jwk, signature, htm, htu without query and
// fragment, iat, a new jti each time, ath, and the origin's nonce; the
// embedded key's thumbprint is Thumbprint.
func TestDPoPProofVerifies(t *testing.T) {
	for _, alg := range dpopAlgs {
		t.Run(alg, func(t *testing.T) {
			k, err := tokensource.NewDPoPKey(alg) // a fresh key: no nonce memory
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != alg {
				t.Errorf("Algorithm: got %q, want %q", k.Algorithm(), alg)
			}
			u, _ := url.Parse("https://API.example.com:8443/v1/items?id=7&x=y#frag")
			k.SetNonce(&url.URL{Scheme: "https", Host: "api.example.com:8443"}, "n-1")
			k.SetNonce(&url.URL{Scheme: "https", Host: "other.example.com"}, "n-other")
			checker := &tokentest.DPoPChecker{Nonce: "n-1"}
			var jtis []string
			for range 2 {
				proof, err := k.Proof("PATCH", u, "the-access-token", time.Now())
				if err != nil {
					t.Fatal(err)
				}
				r, _ := http.NewRequest("PATCH", u.String(), nil)
				r.Header.Set("DPoP", proof)
				r.Header.Set("Authorization", "DPoP the-access-token")
				p, err := checker.Check(r, "https://API.example.com:8443/v1/items", "the-access-token")
				if err != nil {
					t.Fatalf("the verifier refused the proof: %v", err)
				}
				if p.Thumbprint != k.Thumbprint() || p.Alg != alg {
					t.Errorf("got thumbprint %q alg %q, want %q %q", p.Thumbprint, p.Alg, k.Thumbprint(), alg)
				}
				jtis = append(jtis, p.JTI)
			}
			if jtis[0] == jtis[1] {
				t.Error("two proofs share a jti")
			}
		})
	}
}

// TestDPoPProofClaims checks the claims that the verifier leaves open: no
// ath without an access token, no nonce for an origin that sent none,
// iat from the clock given, and "/" as the path of a URL without one.
func TestDPoPProofClaims(t *testing.T) {
	k := dpopKey(t, "ES256")
	at := time.Unix(1_900_000_000, 0)
	proof, err := k.Proof("POST", &url.URL{Scheme: "https", Host: "idp.example"}, "", at)
	if err != nil {
		t.Fatal(err)
	}
	claims := proofClaims(t, proof)
	want := map[string]any{"htm": "POST", "htu": "https://idp.example/", "iat": float64(at.Unix())}
	for name, v := range want {
		if claims[name] != v {
			t.Errorf("%s: got %v, want %v", name, claims[name], v)
		}
	}
	for _, absent := range []string{"ath", "nonce"} {
		if _, ok := claims[absent]; ok {
			t.Errorf("claim %s is present, want it absent", absent)
		}
	}
	if _, err := k.Proof("GET", &url.URL{Path: "/relative"}, "", at); err == nil {
		t.Error("a proof for a relative URL: got nil error")
	}
}

func proofClaims(t *testing.T, proof string) map[string]any {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("a proof of %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDPoPNonceMemory: nonces are kept per origin (scheme, host, port; a
// default port is the same origin), malformed or overlong ones are
// ignored, and the memory holds a bounded number of origins.
func TestDPoPNonceMemory(t *testing.T) {
	k, err := tokensource.NewDPoPKey("")
	if err != nil {
		t.Fatal(err)
	}
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	k.SetNonce(mustURL("https://a.example/token"), "good")
	for _, tc := range []struct{ url, want string }{
		{"https://a.example:443/other?q", "good"},
		{"https://A.EXAMPLE/x", "good"},
		{"http://a.example/x", ""},
		{"https://a.example:8443/x", ""},
		{"https://b.example/x", ""},
	} {
		if got := k.Nonce(mustURL(tc.url)); got != tc.want {
			t.Errorf("Nonce(%s): got %q, want %q", tc.url, got, tc.want)
		}
	}
	for _, bad := range []string{"", "has space", `q"uote`, `back\slash`, "ctl\x01", "é", strings.Repeat("n", 513)} {
		k.SetNonce(mustURL("https://a.example/"), bad)
		if got := k.Nonce(mustURL("https://a.example/")); got != "good" {
			t.Errorf("after SetNonce(%q): got %q, want the nonce kept", bad, got)
		}
	}
	for i := range 1000 {
		k.SetNonce(mustURL(fmt.Sprintf("https://h%d.example/", i)), "n")
	}
	kept := 0
	for i := range 1000 {
		if k.Nonce(mustURL(fmt.Sprintf("https://h%d.example/", i))) != "" {
			kept++
		}
	}
	if kept == 0 || kept > 64 {
		t.Errorf("%d origins' nonces kept, want between 1 and 64", kept)
	}
}

// TestDPoPKeyEncoding: a key survives Encode and ParseDPoPKey (same
// thumbprint, same algorithm), and what is not a usable key is refused
// with a typed error holding none of the input.
func TestDPoPKeyEncoding(t *testing.T) {
	for _, alg := range dpopAlgs {
		k := dpopKey(t, alg)
		back, err := tokensource.ParseDPoPKey(k.Encode())
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if back.Thumbprint() != k.Thumbprint() || back.Algorithm() != alg {
			t.Errorf("%s: got %v after a round trip, want %v", alg, back, k)
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs8 := func(k crypto.Signer) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(der)
	}
	for _, tc := range []struct {
		name, enc string
		want      error
	}{
		{"not base64", "SECRET!!", tokensource.ErrMalformedKey},
		{"not PKCS8", base64.RawURLEncoding.EncodeToString([]byte("SECRET-bytes")), tokensource.ErrMalformedKey},
		{"P-384", pkcs8(p384), tokensource.ErrUnsupportedKey},
		{"RSA 1024", pkcs8(rsa1024), tokensource.ErrUnsupportedKey},
	} {
		_, err := tokensource.ParseDPoPKey(tc.enc)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error quotes the input: %v", tc.name, err)
		}
	}
	if _, err := tokensource.NewDPoPKey("HS256"); !errors.Is(err, tokensource.ErrUnsupportedKey) {
		t.Errorf("NewDPoPKey(HS256): got %v, want ErrUnsupportedKey", err)
	}
}

// TestDPoPKeyNeverPrinted: no fmt verb, slog handler or JSON encoding of a
// DPoPKey (value or pointer, nested or not) shows the private key.
func TestDPoPKeyNeverPrinted(t *testing.T) {
	for _, alg := range dpopAlgs {
		k := dpopKey(t, alg)
		secret := k.Encode()
		type holder struct {
			Key  *tokensource.DPoPKey
			Val  tokensource.DPoPKey
			priv *tokensource.DPoPKey
		}
		h := holder{Key: k, Val: *k, priv: k}
		var out strings.Builder
		for _, v := range []any{k, *k, h, &h, []any{k}, map[string]any{"k": k}} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
				fmt.Fprintf(&out, verb+"\n", v)
			}
			b, _ := json.Marshal(v)
			out.Write(b)
			slog.New(slog.NewTextHandler(&out, nil)).Info("m", "v", v)
			slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "v", v)
		}
		s := out.String()
		for _, leak := range []string{secret, secret[:24], secret[len(secret)-24:]} {
			if strings.Contains(s, leak) {
				t.Fatalf("%s: the private key appears in printed output", alg)
			}
		}
		if !strings.Contains(s, k.Thumbprint()) {
			t.Errorf("%s: the printed forms do not name the thumbprint", alg)
		}
	}
}

// dpopServer is a DPoP token endpoint and resource demanding nonces.
func dpopServer(t *testing.T) *tokentest.Server {
	srv := tokentest.NewServer()
	t.Cleanup(srv.Close)
	srv.DPoP = &tokentest.DPoPChecker{}
	srv.TokenNonce = true
	return srv
}

// TestExchangeDPoP: ExchangeWith sends a proof, retries once when the
// server asks for its nonce, remembers the nonce, and returns a DPoP
// record holding the key; a server that keeps asking gets two requests,
// and the error is temporary.
func TestExchangeDPoP(t *testing.T) {
	srv := dpopServer(t)
	k, err := tokensource.NewDPoPKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}
	form := url.Values{"grant_type": {"client_credentials"}}
	rec, err := tokensource.ExchangeWith(t.Context(), cfg, form, tokensource.ExchangeOptions{DPoP: k})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests(); got != 2 {
		t.Errorf("got %d requests, want 2 (one without the nonce, one with)", got)
	}
	if rec.TokenType != "DPoP" || rec.DPoPKey != k.Encode() {
		t.Errorf("got a record of type %q holding key %t, want DPoP and the key", rec.TokenType, rec.DPoPKey == k.Encode())
	}
	if got := k.Nonce(mustParse(t, srv.TokenURL())); got != srv.Nonce() {
		t.Errorf("remembered nonce %q, want %q", got, srv.Nonce())
	}
	// The nonce is remembered: the next exchange needs one request.
	if _, err := tokensource.ExchangeWith(t.Context(), cfg, form, tokensource.ExchangeOptions{DPoP: k}); err != nil || srv.Requests() != 3 {
		t.Errorf("second exchange: got %v after %d requests, want success after 3", err, srv.Requests())
	}

	// A server whose nonce is always new: two requests, never a loop.
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("DPoP-Nonce", srv.RotateNonce())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
		return true
	}
	before := srv.Requests()
	_, err = tokensource.ExchangeWith(t.Context(), cfg, form, tokensource.ExchangeOptions{DPoP: k})
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "use_dpop_nonce" || !te.Temporary() {
		t.Errorf("got %v, want a temporary use_dpop_nonce *Error", err)
	}
	if got := srv.Requests() - before; got != 2 {
		t.Errorf("got %d requests against a nonce-rotating server, want 2", got)
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestExchangeDPoPDowngrade: an answer of Bearer tokens to a DPoP request
// is refused with ErrDPoPDowngrade, and the tokens are not in the error.
func TestExchangeDPoPDowngrade(t *testing.T) {
	srv := dpopServer(t)
	srv.Downgrade = true
	cfg := &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}
	rec, err := tokensource.ExchangeWith(t.Context(), cfg, url.Values{"grant_type": {"client_credentials"}},
		tokensource.ExchangeOptions{DPoP: dpopKey(t, "EdDSA")})
	if !errors.Is(err, tokensource.ErrDPoPDowngrade) || rec != nil {
		t.Fatalf("got %v, %v; want no record and ErrDPoPDowngrade", rec, err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), "at-") {
		t.Errorf("the error shows the refused access token: %v", err)
	}
}

// dpopFixture is a Source over a record bound to key at srv.
func dpopFixture(t *testing.T, srv *tokentest.Server, store storage.Store, key *tokensource.DPoPKey, expiry time.Time) *tokensource.Source {
	t.Helper()
	if key != nil {
		at, rt, _ := srv.LoginDPoP(key.Thumbprint())
		rec := &storage.Token{AccessToken: at, TokenType: "DPoP", RefreshToken: rt, Expiry: expiry, DPoPKey: key.Encode(), Version: 1}
		if err := store.Save(t.Context(), "acct", rec); err != nil {
			t.Fatal(err)
		}
	}
	return newDPoPSource(t, srv, store)
}

func newDPoPSource(t *testing.T, srv *tokentest.Server, store storage.Store) *tokensource.Source {
	t.Helper()
	src, err := tokensource.New(tokensource.Config{
		OAuth2:        &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		Store:         store,
		Key:           "acct",
		RefreshBefore: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// TestSourceRefreshesWithDPoP: a Source redeems a DPoP-bound refresh token
// with a proof of the record's key (the server refuses it otherwise),
// keeps the key in the new record, hands out DPoP tokens, and makes
// proofs for resource requests that the resource accepts. Every
// algorithm; the key survives a restart from a file store.
func TestSourceRefreshesWithDPoP(t *testing.T) {
	for _, alg := range dpopAlgs {
		t.Run(alg, func(t *testing.T) {
			srv := dpopServer(t)
			srv.ResourceNonce = true
			key := dpopKey(t, alg)
			store := newFileStore(t)
			src := dpopFixture(t, srv, store, key, time.Now().Add(-time.Second))
			tok, err := src.TokenContext(t.Context())
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if tok.Type() != "DPoP" || srv.Refreshes() != 1 {
				t.Fatalf("got a %q token after %d refreshes, want DPoP after 1", tok.Type(), srv.Refreshes())
			}
			rec, _ := src.Current(t.Context())
			if rec.DPoPKey != key.Encode() || rec.TokenType != "DPoP" {
				t.Errorf("the refreshed record lost its key or type (%q)", rec.TokenType)
			}
			getResource(t, srv, src, tok, http.StatusOK)
			src.Close()

			// A new process: the key comes from the store, and the bound
			// refresh token still works.
			srv.ExpireAccess()
			stored, _ := store.Load(t.Context(), "acct")
			stored.Expiry = time.Now().Add(-time.Second)
			stored.Version++
			if err := store.Save(t.Context(), "acct", stored); err != nil {
				t.Fatal(err)
			}
			again := newDPoPSource(t, srv, store)
			tok, err = again.TokenContext(t.Context())
			if err != nil || srv.Refreshes() != 2 {
				t.Fatalf("after a restart: got %v after %d refreshes, want a token after 2", err, srv.Refreshes())
			}
			if again.DPoPKey().Thumbprint() != key.Thumbprint() {
				t.Error("after a restart the Source uses another key")
			}
			getResource(t, srv, again, tok, http.StatusOK)
		})
	}
}

// getResource fetches srv's resource with tok and a proof from src,
// answering the resource's nonce challenge once, as package transport
// does, and checks the final status.
func getResource(t *testing.T, srv *tokentest.Server, src *tokensource.Source, tok *oauth2.Token, want int) {
	t.Helper()
	u := mustParse(t, srv.URL+"/resource?q=1")
	for try := 0; ; try++ {
		proof, err := src.DPoPProof(http.MethodGet, u, tok)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := resp.Header.Get("DPoP-Nonce"); n != "" && try == 0 && resp.StatusCode == http.StatusUnauthorized {
			src.DPoPNonce(u, n)
			continue
		}
		if resp.StatusCode != want {
			t.Fatalf("resource: got %d (%s), want %d", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
		return
	}
}

// TestSourceDPoPDowngradeKeepsRotatedToken: a refresh answered with Bearer
// tokens is refused (ErrDPoPDowngrade, no token served), but its rotated
// refresh token is saved, with the key, so the session is not lost.
func TestSourceDPoPDowngradeKeepsRotatedToken(t *testing.T) {
	srv := dpopServer(t)
	key := dpopKey(t, "ES256")
	store := storage.NewMemory()
	src := dpopFixture(t, srv, store, key, time.Now().Add(-time.Second))
	first, _ := store.Load(t.Context(), "acct")
	srv.Downgrade = true
	_, err := src.TokenContext(t.Context())
	if !errors.Is(err, tokensource.ErrDPoPDowngrade) {
		t.Fatalf("got %v, want ErrDPoPDowngrade", err)
	}
	if errors.Is(err, tokensource.ErrLoginRequired) {
		t.Error("a downgrade is reported as login required")
	}
	rec, _ := store.Load(t.Context(), "acct")
	if rec.RefreshToken == first.RefreshToken || rec.DPoPKey != key.Encode() || rec.AccessToken != first.AccessToken {
		t.Errorf("after the downgrade the store holds %v, want the rotated refresh token with the key and the old access token", rec)
	}
	srv.Downgrade = false
	src.Close()
	tok, err := newDPoPSource(t, srv, store).TokenContext(t.Context())
	if err != nil || tok.Type() != "DPoP" {
		t.Fatalf("after the server recovers: got %v, %v; want a DPoP token from the kept refresh token", tok, err)
	}
}

// TestSourceDPoPProofNeedsKey: a Bearer account has no key, and its Source
// refuses to make a proof.
func TestSourceDPoPProofNeedsKey(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	store := storage.NewMemory()
	at, rt, exp := srv.Login()
	store.Save(t.Context(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 1})
	src := newDPoPSource(t, srv, store)
	tok, err := src.TokenContext(t.Context())
	if err != nil || tok.Type() != "Bearer" {
		t.Fatalf("got %v, %v", tok, err)
	}
	if src.DPoPKey() != nil {
		t.Error("a Bearer account has a DPoP key")
	}
	if _, err := src.DPoPProof("GET", mustParse(t, srv.URL), tok); !errors.Is(err, tokensource.ErrNoDPoPKey) {
		t.Errorf("got %v, want ErrNoDPoPKey", err)
	}
}

// TestSourceDPoPUnreadableKey: a record whose key cannot be parsed is not
// redeemed (the server would refuse it and could revoke the family) and
// not deleted; the error says why, without the key.
func TestSourceDPoPUnreadableKey(t *testing.T) {
	srv := dpopServer(t)
	store := storage.NewMemory()
	at, rt, _ := srv.LoginDPoP("jkt")
	store.Save(t.Context(), "acct", &storage.Token{AccessToken: at, TokenType: "DPoP", RefreshToken: rt, Expiry: time.Now().Add(-time.Second), DPoPKey: "SECRET-not-a-key", Version: 1})
	_, err := newDPoPSource(t, srv, store).TokenContext(t.Context())
	if !errors.Is(err, tokensource.ErrMalformedKey) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("got %v, want ErrMalformedKey without the key", err)
	}
	if srv.Requests() != 0 {
		t.Errorf("%d token requests, want none", srv.Requests())
	}
	if rec, err := store.Load(t.Context(), "acct"); err != nil || rec.RefreshToken != rt {
		t.Errorf("the record was changed: %v, %v", rec, err)
	}
}

// TestClientCredentialsDPoP: with Config.DPoP a client-credentials Source
// makes one key, keeps it in the record, and a second Source over the
// same store uses the same key.
func TestClientCredentialsDPoP(t *testing.T) {
	srv := dpopServer(t)
	store := storage.NewMemory()
	newSrc := func() *tokensource.Source {
		src, err := tokensource.New(tokensource.Config{
			OAuth2: &oauth2.Config{ClientID: "svc", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
			Grant:  tokensource.GrantClientCredentials, DPoP: "EdDSA", Store: store, Key: "svc",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	a := newSrc()
	if a.DPoPKey() != nil {
		t.Error("DPoPKey before the first token: got a key, want nil (a getter makes no key)")
	}
	tok, err := a.TokenContext(t.Context())
	if err != nil || tok.Type() != "DPoP" {
		t.Fatalf("got %v, %v; want a DPoP token", tok, err)
	}
	k := a.DPoPKey()
	if k == nil || k.Algorithm() != "EdDSA" {
		t.Fatalf("got key %v, want an EdDSA key", k)
	}
	srv.ExpireAccess()
	rec, _ := store.Load(t.Context(), "svc")
	rec.Expiry, rec.Version = time.Now().Add(-time.Second), rec.Version+1
	store.Save(t.Context(), "svc", rec)
	b := newSrc()
	if _, err := b.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.DPoPKey().Thumbprint() != k.Thumbprint() {
		t.Error("a second Source over the same store made another key")
	}
	if _, err := tokensource.New(tokensource.Config{OAuth2: &oauth2.Config{ClientID: "svc", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}, Grant: tokensource.GrantClientCredentials, DPoP: "HS256"}); !errors.Is(err, tokensource.ErrUnsupportedKey) {
		t.Errorf("Config.DPoP HS256: got %v, want ErrUnsupportedKey", err)
	}
	if _, err := tokensource.New(tokensource.Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}, DPoP: "ES256"}); err == nil {
		t.Error("Config.DPoP with GrantRefreshToken: got nil error, want New to refuse it (the record's key decides)")
	}
}

// TestDPoPProofNotInErrors: a token endpoint that echoes the request's
// headers into its error does not get the proof into the error.
func TestDPoPProofNotInErrors(t *testing.T) {
	srv := dpopServer(t)
	var sent string
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		sent = r.Header.Get("DPoP")
		w.Header().Set("X-Echo", sent)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "echo " + sent})
		return true
	}
	srv.TokenNonce = false
	cfg := &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}
	_, err := tokensource.ExchangeWith(context.Background(), cfg, url.Values{"grant_type": {"client_credentials"}},
		tokensource.ExchangeOptions{DPoP: dpopKey(t, "ES256")})
	var te *tokensource.Error
	if !errors.As(err, &te) || sent == "" {
		t.Fatalf("got %v, want an *Error", err)
	}
	sig := sent[strings.LastIndex(sent, ".")+1:]
	out := fmt.Sprintf("%v %+v %#v %s %s", err, err, err, te.Body, te.Header)
	if strings.Contains(out, sig) {
		t.Errorf("the proof appears in the error: %s", out)
	}
}

// newFileStore is an encrypted file store in a new temporary directory.
func newFileStore(t *testing.T) *storage.File {
	t.Helper()
	key, err := storage.KeyFromBytes(make([]byte, storage.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.NewFile(storage.FileConfig{Dir: t.TempDir() + "/tokens", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestExchangeUnaskedDPoP: DPoP-bound tokens issued to a request without a
// proof cannot be used (this client holds no key for them): refused as a
// malformed response, the rotated refresh token kept by the Source.
func TestExchangeUnaskedDPoP(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"SECRET-at","token_type":"DPoP","refresh_token":"SECRET-rotated","expires_in":60}`)
		return true
	}
	store := storage.NewMemory()
	store.Save(t.Context(), "acct", &storage.Token{AccessToken: "old", RefreshToken: "rt-0", Expiry: time.Now().Add(-time.Second), Version: 1})
	_, err := newDPoPSource(t, srv, store).TokenContext(t.Context())
	if !errors.Is(err, tokensource.ErrMalformedResponse) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("got %v, want ErrMalformedResponse without the tokens", err)
	}
	if rec, _ := store.Load(t.Context(), "acct"); rec.RefreshToken != "SECRET-rotated" || rec.AccessToken != "old" {
		t.Errorf("the store holds %v, want the rotated refresh token and the old access token", rec)
	}
}
