package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// login logs the provider's default user in with the native client, as a
// CLI would: authorization code + PKCE, the redirect caught by a loopback
// listener, the provider's headless browser playing the user. It returns
// the tokens as the record to store.
func login(ctx context.Context, p *oidctest.Provider) (*storage.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	got := make(chan url.Values, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.Query():
		default:
		}
		io.WriteString(w, "Logged in. You may close this window.")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	e := p.Endpoints()
	cfg := &oauth2.Config{
		ClientID:    p.NativeClient(),
		Endpoint:    oauth2.Endpoint{AuthURL: e.Authorization, TokenURL: e.Token, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://" + ln.Addr().String() + "/callback",
		Scopes:      []string{"openid", "offline_access"},
	}
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	browser := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)
	if err := browser(ctx, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); err != nil {
		return nil, fmt.Errorf("login: browser: %w", err)
	}
	var q url.Values
	select {
	case q = <-got:
	case <-ctx.Done():
		return nil, fmt.Errorf("login: no callback: %w", ctx.Err())
	}
	if q.Get("state") != state || q.Get("code") == "" {
		return nil, errors.New("login: callback without the state or a code")
	}
	rec, err := tokensource.Exchange(ctx, nil, cfg, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {cfg.RedirectURL},
		"code_verifier": {verifier},
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if rec.RefreshToken == "" {
		return nil, errors.New("login: no refresh token")
	}
	rec.Version, rec.AuthTime = 1, time.Now()
	return rec, nil
}
