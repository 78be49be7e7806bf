package transport_test

// The tests of this file use a real *tokensource.Source holding a
// DPoP-bound record, whose proofs are checked as a server does, with
// go-jose and none of the client's code (tokentest.DPoPChecker): typ
// dpop+jwt, the public jwk, the signature, jti never seen before, htm, htu
// without query and fragment, iat, ath = base64url(SHA-256(access token)),
// and the nonce the server asked for.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// dpopSource returns a Source whose record holds the DPoP token "at1", its
// refresh token and key (with key nil, the Bearer token "at1" and its
// refresh token), and whose token endpoint is tokenURL.
func dpopSource(t testing.TB, key *tokensource.DPoPKey, tokenURL string) *tokensource.Source {
	t.Helper()
	store := storage.NewMemory()
	rec := &storage.Token{AccessToken: "at1", TokenType: "Bearer", RefreshToken: "rt1", Expiry: time.Now().Add(time.Hour), Version: 1}
	if key != nil {
		rec.TokenType, rec.DPoPKey = "DPoP", key.Encode()
	}
	if err := store.Save(context.Background(), "k", rec); err != nil {
		t.Fatal(err)
	}
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: tokenURL}},
		Store:  store,
		Key:    "k",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// dpopTokenEndpoint answers a refresh that carries a valid proof of key
// (no ath, no nonce) with the DPoP token "at2".
func dpopTokenEndpoint(t *testing.T, key *tokensource.DPoPKey) *httptest.Server {
	var checker tokentest.DPoPChecker
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := checker.Check(r, "http://"+r.Host+r.URL.Path, "")
		if err != nil || p.Thumbprint != key.Thumbprint() || r.FormValue("refresh_token") != "rt1" {
			t.Errorf("token endpoint: got a refresh with proof %+v (error %v), want rt1 and a valid proof of the key", p, err)
			http.Error(w, `{"error":"invalid_dpop_proof"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at2", "token_type": "DPoP", "expires_in": 3600, "refresh_token": "rt2"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// seenProof is what the resource server of TestDPoPRealKey verified.
type seenProof struct {
	token, nonce, jti string
	err               error
}

// TestDPoPRealKey: against a resource server that wants nonces, with a
// real key for each algorithm, a POST meets 401 use_dpop_nonce (retried
// with the nonce), then, when the server revokes "at1", 401 invalid_token
// (refresh and replay with "at2"), then a 200 that hands out the next
// nonce, which the next request's proof carries. Every send carries a
// valid proof of its own. The prover is a real *tokensource.Source (whose
// refresh, at a token endpoint that checks the refresh's own proof, gives
// "at2"), or a test adapter around a tokensource.DPoPKey whose refresh needs
// no token endpoint.
func TestDPoPRealKey(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		key, err := tokensource.NewDPoPKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(alg+"/Source", func(t *testing.T) {
			dpopRealKey(t, key, dpopSource(t, key, dpopTokenEndpoint(t, key).URL), false)
		})
		t.Run(alg+"/Source, revoked", func(t *testing.T) {
			dpopRealKey(t, key, dpopSource(t, key, dpopTokenEndpoint(t, key).URL), true)
		})
		t.Run(alg+"/adapter, revoked", func(t *testing.T) {
			dpopRealKey(t, key, &keyProver{key: key, tok: &oauth2.Token{AccessToken: "at1", TokenType: "DPoP"}}, true)
		})
	}
}

// keyProver is a test adapter that makes a tokensource.DPoPKey a
// transport.DPoPProver and Refresher: its refresh yields the DPoP token
// "at2".
type keyProver struct {
	key *tokensource.DPoPKey

	mu  sync.Mutex // guards tok
	tok *oauth2.Token
}

func (p *keyProver) Token() (*oauth2.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tok, nil
}

func (p *keyProver) RefreshRejected(_ context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rejected.AccessToken == p.tok.AccessToken {
		p.tok = &oauth2.Token{AccessToken: "at2", TokenType: "DPoP"}
	}
	return p.tok, nil
}

func (p *keyProver) DPoPProof(method string, u *url.URL, tok *oauth2.Token) (string, error) {
	return p.key.Proof(method, u, tok.AccessToken, time.Now())
}

func (p *keyProver) DPoPNonce(u *url.URL, nonce string) { p.key.SetNonce(u, nonce) }

// dpopRealKey runs TestDPoPRealKey with src, whose proofs are made with key.
func dpopRealKey(t *testing.T, key *tokensource.DPoPKey, src oauth2.TokenSource, revoke bool) {
	var (
		checker tokentest.DPoPChecker
		mu      sync.Mutex // guards seen, nonce
		seen    []seenProof
		nonce   = "srv-n1"
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP ")
		p, err := checker.Check(r, "http://"+r.Host+r.URL.Path, tok)
		if err == nil && p.Thumbprint != key.Thumbprint() {
			err = fmt.Errorf("proof signed by %s, want the Source's key %s", p.Thumbprint, key.Thumbprint())
		}
		mu.Lock()
		defer mu.Unlock()
		s := seenProof{token: tok, err: err}
		if p != nil {
			s.nonce, s.jti = p.Nonce, p.JTI
		}
		seen = append(seen, s)
		switch {
		case err != nil:
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
		case p.Nonce != nonce:
			w.Header().Set("DPoP-Nonce", nonce)
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
		case revoke && tok != "at2":
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256 RS256 EdDSA", error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			nonce = "srv-n2"
			w.Header().Set("DPoP-Nonce", nonce)
		}
	}))
	defer api.Close()
	client := &http.Client{Transport: &transport.Transport{Source: src, Base: api.Client().Transport}}

	for _, u := range []string{api.URL + "/items?limit=1#top", api.URL + "/items"} {
		resp, err := client.Post(u, "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: got status %d, want 200", u, resp.StatusCode)
		}
	}
	want := []seenProof{{token: "at1"}, {token: "at1", nonce: "srv-n1"}, {token: "at2", nonce: "srv-n1"}, {token: "at2", nonce: "srv-n2"}}
	if !revoke {
		want = []seenProof{{token: "at1"}, {token: "at1", nonce: "srv-n1"}, {token: "at1", nonce: "srv-n2"}}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("got %d sends %+v, want %d", len(seen), seen, len(want))
	}
	for i, s := range seen {
		if s.err != nil || s.token != want[i].token || s.nonce != want[i].nonce {
			t.Errorf("send %d: got token %q, nonce %q, proof error %v; want %q, %q, a valid proof", i, s.token, s.nonce, s.err, want[i].token, want[i].nonce)
		}
	}
}

// TestDPoPRealKeyConcurrent: 20 goroutines share a real Source, 5 requests
// each, against a server that wants the nonce "n1": every request ends in a
// 200, every send carries a valid proof never seen before (the checker
// refuses a replayed jti), and only requests whose proof was made before
// the nonce was known needed the one retry.
func TestDPoPRealKeyConcurrent(t *testing.T) {
	const goroutines, each = 20, 5
	key, err := tokensource.NewDPoPKey("")
	if err != nil {
		t.Fatal(err)
	}
	var (
		checker  tokentest.DPoPChecker
		mu       sync.Mutex // guards sends, withouts
		sends    int
		withouts int // sends whose proof had no nonce
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := checker.Check(r, "http://"+r.Host+r.URL.Path, "at1")
		mu.Lock()
		sends++
		if p != nil && p.Nonce == "" {
			withouts++
		}
		mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("proof: %v", err)
			w.WriteHeader(http.StatusBadRequest)
		case p.Nonce != "n1":
			w.Header().Set("DPoP-Nonce", "n1")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()
	client := &http.Client{Transport: &transport.Transport{Source: dpopSource(t, key, "https://idp.example.com/token"), Base: api.Client().Transport}}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				resp, err := client.Post(api.URL+"/items", "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("got status %d, want 200", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if want := goroutines*each + withouts; sends != want || withouts > goroutines {
		t.Errorf("got %d sends, %d without a nonce; want %d (one retry for each of those), at most %d", sends, withouts, want, goroutines)
	}
}
