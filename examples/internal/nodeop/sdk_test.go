package nodeop

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// recorder is an http.RoundTripper that records the status of every
// response.
type recorder struct {
	mu       sync.Mutex
	statuses []int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.statuses = append(r.statuses, resp.StatusCode)
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.statuses...)
}

// TestExchangeWithDPoP: tokensource.ExchangeWith with a DPoP key and a
// client assertion gets DPoP tokens from node-oidc-provider after one
// use_dpop_nonce retry, for each of the SDK's key types.
func TestExchangeWithDPoP(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			key, err := tokensource.NewDPoPKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			cfg := s.OAuth2Config(ServiceDPoPClientID, "api")
			tok, err := tokensource.ExchangeWith(t.Context(), cfg, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}},
				tokensource.ExchangeOptions{HTTPClient: &http.Client{Transport: rec}, ClientAuth: s.ClientAssertion(), DPoP: key})
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != tokensource.DPoPTokenType || tok.DPoPKey != key.Encode() {
				t.Errorf("token_type %q, key stored %v; want DPoP bound to the key", tok.TokenType, tok.DPoPKey == key.Encode())
			}
			if got := rec.got(); len(got) != 2 || got[0] != http.StatusBadRequest || got[1] != http.StatusOK {
				t.Errorf("statuses %v, want [400 200]: one use_dpop_nonce retry", got)
			}
			u, _ := url.Parse(cfg.Endpoint.TokenURL)
			if key.Nonce(u) == "" {
				t.Error("the server's nonce was not remembered")
			}
		})
	}
}

// TestSourceRefreshDPoP: a Source holding the public DPoP client's tokens
// refreshes them with proofs of the stored key, keeps the rotated refresh
// token, and the new access token works at userinfo with the key.
func TestSourceRefreshDPoP(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	code, verifier := login(t, s, NativeDPoPClientID)
	key, err := tokensource.NewDPoPKey("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.OAuth2Config(NativeDPoPClientID)
	first, err := tokensource.ExchangeWith(t.Context(), cfg, codeForm(NativeDPoPClientID, code, verifier), tokensource.ExchangeOptions{DPoP: key})
	if err != nil {
		t.Fatal(err)
	}
	store := storage.NewMemory()
	first.Expiry = first.Expiry.Add(-2 * DefaultAccessTokenLifetime) // stale: the next Token refreshes
	if err := store.Save(context.Background(), "alice", first); err != nil {
		t.Fatal(err)
	}
	src, err := tokensource.New(tokensource.Config{OAuth2: cfg, Store: store, Key: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	saved, err := store.Load(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken || saved.RefreshToken == first.RefreshToken || saved.DPoPKey != key.Encode() {
		t.Fatalf("after the refresh: new access token %v, rotated refresh token %v, key kept %v",
			tok.AccessToken != first.AccessToken, saved.RefreshToken != first.RefreshToken, saved.DPoPKey == key.Encode())
	}
	u, _ := url.Parse(s.Endpoints().Userinfo)
	var a answer
	for range 2 { // the first proof may carry the token endpoint's nonce, which userinfo refuses
		proof, err := src.DPoPProof(http.MethodGet, u, tok)
		if err != nil {
			t.Fatal(err)
		}
		a = send(t, http.MethodGet, u.String(), nil, http.Header{"Authorization": {"DPoP " + tok.AccessToken}, "Dpop": {proof}})
		if n := a.header.Get("DPoP-Nonce"); n != "" {
			src.DPoPNonce(u, n)
		}
		if !useNonce(a) {
			break
		}
	}
	if a.status != http.StatusOK || a.str("sub") != "alice" {
		t.Fatalf("userinfo: got %d %v", a.status, a)
	}
}
