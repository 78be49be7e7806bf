package oidctest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// start starts a provider that is closed when the test ends.
func start(t *testing.T, opts oidctest.Options) *oidctest.Provider {
	t.Helper()
	p, err := oidctest.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// endpoint returns the provider's endpoints for x/oauth2.
func endpoint(p *oidctest.Provider, style oauth2.AuthStyle) oauth2.Endpoint {
	e := p.Endpoints()
	return oauth2.Endpoint{AuthURL: e.Authorization, TokenURL: e.Token, DeviceAuthURL: e.DeviceAuthorization, AuthStyle: style}
}

// callbackServer is an app's loopback redirect listener. It answers at once and hands the
// query to the test.
type callbackServer struct {
	*httptest.Server
	got chan url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	t.Helper()
	c := &callbackServer{got: make(chan url.Values, 1)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case c.got <- r.URL.Query():
		default:
		}
		io.WriteString(w, "You may close this window.")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *callbackServer) wait(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-time.After(5 * time.Second):
		t.Fatal("the loopback listener received no callback")
		return nil
	}
}

// nativeConfig returns an oauth2.Config for the native client redirecting to cb.
func nativeConfig(p *oidctest.Provider, cb *callbackServer, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    p.NativeClient(),
		Endpoint:    endpoint(p, oauth2.AuthStyleInParams),
		RedirectURL: cb.URL + "/callback",
		Scopes:      scopes,
	}
}

// loginNative runs the native app flow: auth code + PKCE S256 through a real loopback
// listener driven by the provider's Browser.
func loginNative(t *testing.T, ctx context.Context, p *oidctest.Provider, scopes ...string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	cb := newCallbackServer(t)
	cfg := nativeConfig(p, cb, scopes...)
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	if err := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)(ctx, authURL); err != nil {
		t.Fatalf("Browser: %v", err)
	}
	q := cb.wait(t)
	if got := q.Get("state"); got != state {
		t.Fatalf("callback state: got %q, want %q", got, state)
	}
	if q.Get("code") == "" {
		t.Fatalf("callback has no code; error=%q", q.Get("error"))
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return cfg, tok
}

// wantRetrieveError checks that err is an oauth2.RetrieveError with the given code.
func wantRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v, want *oauth2.RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("got error code %q (%s), want %q", re.ErrorCode, re.Body, code)
	}
}

// refresh forces a refresh_token grant with rt.
func refresh(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

// getJSON GETs url with an optional bearer token and decodes a JSON object.
func getJSON(t *testing.T, ctx context.Context, url, bearer string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET %s: decoding %q: %v", url, body, err)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// postForm POSTs a form and returns the status and decoded JSON body.
func postForm(t *testing.T, ctx context.Context, url string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
