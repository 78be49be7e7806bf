package oidctest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// A native app logs in with auth code + PKCE through its loopback listener; the provider's
// Browser plays the user.
func Example() {
	p, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	codes := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query().Get("code")
		fmt.Fprintln(w, "Logged in. You may close this window.")
	}))
	defer app.Close()

	e := p.Endpoints()
	cfg := &oauth2.Config{
		ClientID:    p.NativeClient(),
		Endpoint:    oauth2.Endpoint{AuthURL: e.Authorization, TokenURL: e.Token, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: app.URL + "/callback", // any port matches http://127.0.0.1/callback
		Scopes:      []string{"openid", "offline_access"},
	}
	verifier := oauth2.GenerateVerifier()
	openBrowser := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)
	if err := openBrowser(ctx, cfg.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier))); err != nil {
		log.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, <-codes, oauth2.VerifierOption(verifier))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires_in:", tok.ExpiresIn, "refresh token:", tok.RefreshToken != "")
	// Output: expires_in: 2 refresh token: true
}
