package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]client.Config{
		"no client id":             {Issuer: "https://op.example"},
		"no issuer nor token url":  {ClientID: "app"},
		"http issuer":              {Issuer: "http://op.example", ClientID: "app"},
		"relative issuer":          {Issuer: "op.example", ClientID: "app"},
		"http token endpoint":      {Endpoints: client.Endpoints{Token: "http://op.example/token"}, ClientID: "app"},
		"http revocation endpoint": {Endpoints: client.Endpoints{Token: "https://op.example/token", Revocation: "http://10.0.0.1/revoke"}, ClientID: "app"},
		"reserved auth param":      {Endpoints: client.Endpoints{Token: "https://op.example/token"}, ClientID: "app", AuthParams: map[string]string{"nonce": "x"}},
		"alg none":                 {Endpoints: client.Endpoints{Token: "https://op.example/token"}, ClientID: "app", IDTokenSigningAlgs: []string{"none"}},
		"alg HS256":                {Endpoints: client.Endpoints{Token: "https://op.example/token"}, ClientID: "app", IDTokenSigningAlgs: []string{"RS256", "HS256"}},
		"negative refresh timeout": {Endpoints: client.Endpoints{Token: "https://op.example/token"}, ClientID: "app", RefreshTimeout: -1},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := client.New(t.Context(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("New accepted the Config")
			}
			if !strings.HasPrefix(err.Error(), "client: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("issuer mismatch", func(t *testing.T) {
		op := (&fakeOP{issuer: "https://evil.example"}).serve(t)
		_, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID})
		var mismatch *oidc.IssuerMismatchError
		if !errors.Is(err, client.ErrIssuerMismatch) || !errors.As(err, &mismatch) {
			t.Fatalf("got %v, want ErrIssuerMismatch holding *oidc.IssuerMismatchError", err)
		}
	})
	t.Run("trailing slash", func(t *testing.T) {
		op := (&fakeOP{}).serve(t)
		_, err := client.New(t.Context(), client.Config{Issuer: op.URL + "/", ClientID: fakeClientID})
		wantErr(t, err, client.ErrIssuerMismatch)
	})
	t.Run("not found", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(srv.Close)
		_, err := client.New(t.Context(), client.Config{Issuer: srv.URL, ClientID: fakeClientID})
		var ee *client.EndpointError
		if !errors.As(err, &ee) || ee.Endpoint != "discovery" {
			t.Fatalf("got %v, want a discovery *EndpointError", err)
		}
	})
	t.Run("insecure endpoint in the document", func(t *testing.T) {
		var op *fakeOP
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"issuer": op.URL, "authorization_endpoint": op.URL + "/a",
				"token_endpoint": "http://op.example/token", "jwks_uri": op.URL + "/jwks"})
		}))
		t.Cleanup(srv.Close)
		op = &fakeOP{URL: srv.URL}
		if _, err := client.New(t.Context(), client.Config{Issuer: srv.URL, ClientID: fakeClientID}); err == nil || !strings.Contains(err.Error(), "token_endpoint") && !strings.Contains(err.Error(), "Token") {
			t.Fatalf("got %v, want the http token endpoint refused", err)
		}
	})
	t.Run("endpoints override discovery", func(t *testing.T) {
		op := (&fakeOP{}).serve(t)
		c := newClient(t, client.Config{Issuer: op.URL, ClientID: fakeClientID, Endpoints: client.Endpoints{Revocation: "https://revoke.example/r"}})
		e := c.Endpoints()
		if e.Revocation != "https://revoke.example/r" || e.Token != op.URL+"/token" || e.JWKS != op.URL+"/jwks" || e.DeviceAuth != op.URL+"/device" {
			t.Errorf("endpoints: got %+v", e)
		}
		if got, want := c.DefaultKey(), fakeClientID+"@"+op.URL; got != want {
			t.Errorf("DefaultKey: got %q, want %q", got, want)
		}
	})
}

// TestPlainOAuth2 uses explicit endpoints without an issuer: no discovery,
// no openid scope, no ID token kept.
func TestPlainOAuth2(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) {
			return 200, tokenResponse("at-1", "rt-1", "unverifiable.id.token")
		}
	})
	c := newClient(t, client.Config{ClientID: "app", Endpoints: client.Endpoints{Auth: op.URL + "/authorize", Token: op.URL + "/token"}})
	if got, want := c.DefaultKey(), "app@"+op.URL+"/token"; got != want {
		t.Errorf("DefaultKey: got %q, want %q", got, want)
	}
	a := account(t, c)
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	if q := mustQuery(t, req.URL); q.Get("scope") != "offline_access" || q.Has("nonce") || req.Nonce != "" {
		t.Errorf("authorization URL: got scope %q nonce %q, want offline_access and no nonce", q.Get("scope"), q.Get("nonce"))
	}
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil || rec.IDToken != "" || rec.RefreshToken != "rt-1" {
		t.Fatalf("record: got %v, %v; want rt-1 and no ID token", rec, err)
	}
	_, err = a.IDToken(t.Context())
	wantErr(t, err, client.ErrUnsupported)
	wantErr(t, a.LoginDevice(t.Context(), nil), client.ErrUnsupported)
	_, err = a.UserInfo(t.Context())
	wantErr(t, err, client.ErrUnsupported)
	if err := a.Logout(t.Context()); err != nil { // no revocation endpoint: local only
		t.Fatalf("Logout: %v", err)
	}
}

// TestSourceSettings shows that Config's Source settings reach every
// account: the clock, MaxSessionAge and OnEvent.
func TestSourceSettings(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	var mu sync.Mutex
	now := time.Now()
	var events []tokensource.EventKind
	a := account(t, fakeClient(t, op, func(c *client.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		c.MaxSessionAge = time.Hour
		c.OnEvent = func(e tokensource.Event) { mu.Lock(); defer mu.Unlock(); events = append(events, e.Kind) }
	}))
	rec := webLogin(t, op, a)
	if !rec.AuthTime.Equal(now.Round(0)) {
		t.Errorf("AuthTime: got %v, want Config.Now's %v", rec.AuthTime, now)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	_, err := a.TokenSource().TokenContext(t.Context())
	var lr *tokensource.LoginRequiredError
	if !errors.As(err, &lr) || lr.Reason != tokensource.ReasonSessionExpired {
		t.Fatalf("after MaxSessionAge: got %v, want LoginRequired (session expired)", err)
	}
	// Events are delivered after the callers are released: wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		got := slices.Clone(events)
		mu.Unlock()
		if len(got) > 0 && got[len(got)-1] == tokensource.EventLoginRequired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events: got %v, want EventLoginRequired last", got)
		}
	}
}
