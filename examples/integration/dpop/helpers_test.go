package dpop_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/nodeop"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// wire is an http.RoundTripper that records every DPoP proof and
// Authorization header the SDK sends, so that the test can look for them
// in what the SDK logs, returns and prints. It is safe for concurrent use.
type wire struct {
	mu      sync.Mutex
	secrets []string
	paths   []string // "METHOD path status" of every request
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range []string{"DPoP", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			w.secrets = append(w.secrets, v)
		}
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	w.paths = append(w.paths, r.Method+" "+r.URL.Path+" "+http.StatusText(status))
	return resp, err
}

// refused returns how many requests to path were answered 400 or 401
// (the provider's use_dpop_nonce, in these tests).
func (w *wire) refused(path string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.paths {
		if strings.HasPrefix(p, "POST "+path+" ") || strings.HasPrefix(p, "GET "+path+" ") {
			if strings.HasSuffix(p, http.StatusText(http.StatusBadRequest)) || strings.HasSuffix(p, http.StatusText(http.StatusUnauthorized)) {
				n++
			}
		}
	}
	return n
}

func (w *wire) sent() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.secrets...)
}

// env is a test's provider, HTTP recorder and debug log.
type env struct {
	srv  *nodeop.Server
	wire *wire
	logs syncBuffer
}

func newEnv(t *testing.T, opts nodeop.Options) *env {
	return &env{srv: nodeop.Start(t, opts), wire: &wire{}}
}

// config returns a client.Config for clientID at e's provider with DPoP
// alg, a debug logger into e.logs and e.wire as transport.
func (e *env) config(clientID, alg string, store storage.Store) client.Config {
	return client.Config{
		Issuer:        e.srv.Issuer(),
		ClientID:      clientID,
		DPoP:          alg,
		PromptConsent: true, // node-oidc-provider issues refresh tokens only then
		Scopes:        []string{"profile", "email"},
		Store:         store,
		HTTPClient:    &http.Client{Transport: e.wire, Timeout: 20 * time.Second},
		Logger:        slog.New(slog.NewTextHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login logs a in through the loopback flow, the provider's pages driven
// by nodeop's headless browser as user alice.
func (e *env) login(t *testing.T, a *client.Account) {
	t.Helper()
	err := a.Login(t.Context(), client.LoginOptions{OpenBrowser: e.srv.Browser("alice", true), Output: io.Discard, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
}

// current returns a's stored record, checking that it is DPoP-bound.
func current(t *testing.T, a *client.Account) *storage.Token {
	t.Helper()
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rec.TokenType != "DPoP" || rec.DPoPKey == "" || rec.RefreshToken == "" {
		t.Fatalf("token_type %q, key %t, refresh token %t: want DPoP-bound tokens with a refresh token",
			rec.TokenType, rec.DPoPKey != "", rec.RefreshToken != "")
	}
	return rec
}

// refresh makes a's Source refresh now and returns the new record.
func refresh(t *testing.T, a *client.Account) *storage.Token {
	t.Helper()
	src := a.TokenSource()
	cur, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	if _, err := src.RefreshRejected(t.Context(), cur); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return current(t, a)
}

// rawRefresh redeems refreshToken at the token endpoint as public client
// clientID with a plain form and no DPoP proof, and returns the status and
// the error code.
func (e *env) rawRefresh(t *testing.T, clientID, refreshToken string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.Endpoints().Token, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if body.AccessToken != "" {
		t.Error("the token endpoint issued an access token for a refresh without a proof")
	}
	return resp.StatusCode, body.Error
}

// fileStore opens an encrypted file store in dir with key.
func fileStore(t *testing.T, dir string, key storage.FileKey) storage.Store {
	t.Helper()
	st, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newFileKey(t *testing.T) storage.FileKey {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := storage.KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// noLeak fails if any secret (at least 16 bytes, or its middle) appears
// in out.
func noLeak(t *testing.T, out string, secrets ...string) {
	t.Helper()
	if len(secrets) < 8 {
		t.Fatalf("got %d secrets to look for, want the proofs, tokens and keys", len(secrets))
	}
	for _, s := range secrets {
		if len(s) < 16 {
			continue
		}
		if strings.Contains(out, s) || strings.Contains(out, s[len(s)/2-6:len(s)/2+6]) {
			t.Errorf("a secret (%.10s…) appears in the SDK's output", s)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
