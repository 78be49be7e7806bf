package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Test helpers shared by the client package's tests in the SDK module
// (client/) and its tests against the in-process OpenID Provider in the
// examples module (examples/integration/client/). The two copies of this
// file are identical; .ci/run fails when they differ.

// newClient returns a Client for cfg that is closed when the test ends.
func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close: %v", err)
		}
	})
	return c
}

// account returns c's default account.
func account(t *testing.T, c *client.Client) *client.Account {
	t.Helper()
	a, err := c.Account("")
	if err != nil {
		t.Fatalf("Account: %v", err)
	}
	return a
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if target == errAny && err != nil {
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one matching %v", err, target)
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

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// errAny matches any error in a table that only needs the call to fail.
var errAny = errors.New("any error")

// forceRefresh makes the account's Source refresh now.
func forceRefresh(t *testing.T, a *client.Account) (*storage.Token, error) {
	t.Helper()
	cur, err := a.TokenSource().TokenContext(t.Context())
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	if _, err := a.TokenSource().RefreshRejected(t.Context(), cur); err != nil {
		return nil, err
	}
	return a.TokenSource().Current(t.Context())
}

const webRedirect = "http://127.0.0.1:9/callback"

// fakeClient returns a Client of the fake OP's public client.
func fakeClient(t *testing.T, op *fakeOP, edit ...func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Issuer: op.URL, ClientID: fakeClientID}
	for _, e := range edit {
		e(&cfg)
	}
	return newClient(t, cfg)
}

// codeCallback is the query of a successful authorization response to req.
func codeCallback(req *client.AuthRequest) url.Values {
	return url.Values{"code": {"the-code"}, "state": {req.State}}
}

// formats prints v with every common verb and through slog.
func formats(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	slog.New(slog.NewJSONHandler(&b, nil)).Info("value", "v", v)
	slog.New(slog.NewTextHandler(&b, nil)).Info("value", "v", v)
	return b.String()
}

// webLogin logs a into the fake OP through the web flow with a valid ID
// token, and returns the saved record.
func webLogin(t *testing.T, op *fakeOP, a *client.Account) *storage.Token {
	t.Helper()
	return webLoginWith(t, op, a, nil)
}

// webLoginWith is webLogin with extra added to the ID token's claims; it
// calls each of seen with the login's nonce.
func webLoginWith(t *testing.T, op *fakeOP, a *client.Account, extra map[string]any, seen ...func(nonce string)) *storage.Token {
	t.Helper()
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range seen {
		f(req.Nonce)
	}
	claims := op.claims(req.Nonce)
	maps.Copy(claims, extra)
	idt := signRS256(t, claims)
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
