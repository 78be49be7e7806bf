package oidctest_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func TestStartRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]oidctest.Options{
		"negative access lifetime": {AccessTokenLifetime: -time.Second},
		"negative grace":           {RefreshReuseInterval: -1},
		"unknown reuse policy":     {RefreshReuse: 7},
		"refresh lifetime over 5h": {RefreshTokenLifetime: 6 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := oidctest.Start(opts)
			if err == nil {
				p.Close()
				t.Fatal("got no error")
			}
			if !strings.HasPrefix(err.Error(), "oidctest: ") {
				t.Errorf("error %q lacks the oidctest: prefix", err)
			}
		})
	}
}

// TestCloseLeavesNoGoroutines runs a whole login, refresh and device approval, closes
// everything the test opened and checks that the goroutine count returns to where it was.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()

	tr := &http.Transport{}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: tr})
	p, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query().Get("code")
	})}
	cbTest := newCallbackServerOn(t, app)
	cfg := &oauth2.Config{ClientID: p.NativeClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams), RedirectURL: cbTest + "/callback", Scopes: []string{"openid", "offline_access"}}
	v := oauth2.GenerateVerifier()
	if err := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v))); err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, <-got, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(ctx, cfg, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	dcfg := &oauth2.Config{ClientID: p.DeviceClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams)}
	da, err := dcfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApproveDevice(ctx, da.UserCode, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
		t.Fatal(err)
	}

	app.Close()
	tr.CloseIdleConnections()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d after Close, want at most %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := http.Get(p.Issuer() + "/.well-known/openid-configuration"); err == nil {
		t.Error("the provider still answers after Close")
	}
}

// newCallbackServerOn serves srv on a loopback port until the test closes it and returns
// its base URL.
func newCallbackServerOn(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

// TestConcurrentProviders starts providers while others serve logins. zitadel's
// op.NewProvider shares op.DefaultEndpoints between providers and exampleop writes into it;
// under -race this test fails unless Start isolates each provider.
func TestConcurrentProviders(t *testing.T) {
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p, err := oidctest.Start(oidctest.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer p.Close()
			for range 3 {
				cfg := &oauth2.Config{ClientID: p.NativeClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams),
					RedirectURL: "http://127.0.0.1:1/callback", Scopes: []string{"openid"}}
				if _, err := p.Login(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
					t.Error(err)
				}
				getJSON(t, ctx, p.Endpoints().Discovery, "")
			}
		})
	}
	wg.Wait()
}
