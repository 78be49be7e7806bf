package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// canaryRun is the shared setup of TestSecretsCanary.
type canaryRun struct {
	w        *secretWatch
	p        *oidctest.Provider
	dir      string // the file store's directory
	store    *saveFailStore
	hc       *http.Client // every client's HTTP client: through the wire tap
	user, pw string
}

func newCanaryRun(t *testing.T) *canaryRun {
	w := newSecretWatch()
	r := &canaryRun{w: w, user: "canary-user", pw: "pw-CANARY-" + rand.Text()}
	w.secret("password", r.pw)
	r.p = startOP(t, oidctest.Options{PasswordGrant: true, DevicePollInterval: time.Second, Logger: w.logger(&w.opLogs)})
	if err := r.p.AddUser(oidctest.User{Username: r.user, Password: r.pw, Email: "canary@example.com"}); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, storage.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	for _, s := range fileKeyForms(key) {
		w.secret("file key", s)
	}
	fk, err := storage.KeyFromBytes(key)
	if err != nil {
		t.Fatal(err)
	}
	w.value("FileKey", fk)
	r.dir = filepath.Join(t.TempDir(), "tokens")
	r.store = &saveFailStore{}
	if r.store.File, err = storage.NewFile(storage.FileConfig{Dir: r.dir, Key: fk}); err != nil {
		t.Fatal(err)
	}
	other, err := storage.KeyFromBytes(make([]byte, storage.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if r.store.wrongKey, err = storage.NewFile(storage.FileConfig{Dir: r.dir, Key: other}); err != nil {
		t.Fatal(err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	r.hc = &http.Client{Transport: &wireTap{base: base, w: w}, Timeout: 10 * time.Second}
	return r
}

// client returns a Client whose logs, events and traffic are watched; the
// Config and the Client are recorded.
func (r *canaryRun) client(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	cfg.Issuer = r.p.Issuer()
	cfg.Store, cfg.HTTPClient, cfg.OnEvent = r.store, r.hc, r.w.event
	cfg.Logger = r.w.logger(&r.w.logs)
	r.w.secret("client_secret", cfg.ClientSecret)
	c := newClient(t, cfg)
	r.w.value("Config", cfg)
	r.w.value("*Config", &cfg)
	r.w.value("Client", c)
	r.w.value("Endpoints", c.Endpoints())
	return c
}

// account returns c's account key, recorded with its Source and HTTP client.
func (r *canaryRun) account(t *testing.T, c *client.Client, key string) *client.Account {
	t.Helper()
	a, err := c.Account(key)
	if err != nil {
		t.Fatal(err)
	}
	r.w.value("Account", a)
	r.w.value("Source", a.TokenSource())
	r.w.value("HTTPClient", a.HTTPClient())
	return a
}

// opener is the provider's headless browser for the canary user; it
// records the state and nonce of the authorization URL.
func (r *canaryRun) opener() func(context.Context, string) error {
	browse := r.p.Browser(r.user, r.pw)
	return func(ctx context.Context, authURL string) error {
		r.authURL(authURL)
		return browse(ctx, authURL)
	}
}

// authURL records the secrets of an authorization URL.
func (r *canaryRun) authURL(authURL string) url.Values {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil
	}
	q := u.Query()
	r.w.secret("state", q.Get("state"))
	r.w.secret("nonce", q.Get("nonce"))
	return q
}

// login runs a native login with opener; the URL it prints may show the
// login's state and nonce, which the user's browser sends anyway.
func (r *canaryRun) login(ctx context.Context, a *client.Account, opener func(context.Context, string) error, timeout time.Duration) error {
	var out syncBuffer
	err := a.Login(ctx, client.LoginOptions{OpenBrowser: opener, Output: &out, Timeout: timeout})
	r.w.output("Login output", out.String(), "state", "nonce")
	r.w.err("Login error", err)
	return err
}

// tokens records the account's stored record and its secrets.
func (r *canaryRun) tokens(t *testing.T, a *client.Account) *storage.Token {
	t.Helper()
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	r.w.secret("access_token", rec.AccessToken)
	r.w.secret("refresh_token", rec.RefreshToken)
	r.w.secret("id_token", rec.IDToken)
	r.w.value("storage.Token", rec)
	r.w.value("storage.Token value", *rec)
	return rec
}

// refresh makes the account refresh now, as a 401 from a resource would.
func (r *canaryRun) refresh(t *testing.T, a *client.Account) error {
	t.Helper()
	cur, err := a.TokenSource().TokenContext(t.Context())
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	_, err = a.TokenSource().RefreshRejected(t.Context(), cur)
	r.w.err("refresh error", err)
	return err
}

// profile records the account's ID token claims and userinfo, and calls
// the provider's resource.
func (r *canaryRun) profile(t *testing.T, a *client.Account) {
	t.Helper()
	ctx := t.Context()
	id, err := a.IDToken(ctx)
	if err != nil {
		t.Fatalf("IDToken: %v", err)
	}
	r.w.value("IDToken", id)
	r.w.value("IDToken value", *id)
	info, err := a.UserInfo(ctx)
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	r.w.value("UserInfo", info)
	r.w.value("UserInfo value", *info)
	r.resource(t, a)
}

// resource calls the provider's protected resource with the account's
// HTTP client.
func (r *canaryRun) resource(t *testing.T, a *client.Account) {
	t.Helper()
	resp, err := a.HTTPClient().Get(r.p.Endpoints().Resource)
	if err != nil {
		t.Fatalf("resource: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resource: got HTTP %d, want 200", resp.StatusCode)
	}
}

// want records err and fails unless it matches target.
func (r *canaryRun) want(t *testing.T, what string, err, target error) {
	t.Helper()
	r.w.err(what, err)
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want an error matching %v", what, err, target)
	}
}

// saveFailStore is the run's encrypted file store; when failNext is set,
// the next Save goes to a File with another key over the same directory,
// which refuses to overwrite a record it cannot decrypt.
type saveFailStore struct {
	*storage.File
	wrongKey *storage.File
	failNext atomic.Bool
}

func (s *saveFailStore) Save(ctx context.Context, key string, t *storage.Token) error {
	if s.failNext.CompareAndSwap(true, false) {
		return s.wrongKey.Save(ctx, key, t)
	}
	return s.File.Save(ctx, key, t)
}

// echoServer answers every request with 400 and an RFC 6749 error whose
// description repeats the request's form and Authorization header, and
// returns its URL.
func echoServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		desc := "bad request " + req.Form.Encode() + " " + req.Header.Get("Authorization")
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, desc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
