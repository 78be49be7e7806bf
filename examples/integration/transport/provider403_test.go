package transport_test

// TestProvider403ForExpiredToken runs the transport against a real OpenID
// Provider (zitadel's, through oidctest). It lives in this module, not
// beside the transport package, so that the SDK's module does not depend on
// the provider.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// TestProvider403ForExpiredToken: zitadel's userinfo endpoint answers an
// expired access token with 403 (and no invalid_token challenge). With the
// default classification that 403 is returned as is and nothing is
// refreshed; with a Rejected hook that also takes 403 as a rejection, the
// *tokensource.Source refreshes once at the real provider and the request
// is replayed and succeeds.
func TestProvider403ForExpiredToken(t *testing.T) {
	p, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	rec := nativeLogin(t, p)
	rejected403 := func(r *http.Response) bool { return transport.InvalidToken(r) || r.StatusCode == http.StatusForbidden }

	tests := []struct {
		name          string
		rejected      func(*http.Response) bool
		wantStatus    int
		wantRefreshes int
	}{
		{"default: 403 returned as is", nil, http.StatusForbidden, 0},
		{"Rejected hook: 403 refreshes", rejected403, http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := storage.NewMemory()
			if err := store.Save(ctx, "acct", rec); err != nil {
				t.Fatal(err)
			}
			e := p.Endpoints()
			src, err := tokensource.New(tokensource.Config{
				OAuth2: &oauth2.Config{ClientID: p.NativeClient(), Endpoint: oauth2.Endpoint{TokenURL: e.Token, AuthStyle: oauth2.AuthStyleInParams}},
				Store:  store,
				Key:    "acct",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			client := &http.Client{Transport: &transport.Transport{Source: src, Rejected: tt.rejected}}
			get := func() int {
				resp, err := client.Get(e.Userinfo)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := get(); code != http.StatusOK {
				t.Fatalf("setup: userinfo got %d with a live token, want 200", code)
			}
			before := p.TokenRequests("refresh_token")
			p.ExpireAccessTokens()
			if code := get(); code != tt.wantStatus {
				t.Errorf("got status %d, want %d", code, tt.wantStatus)
			}
			if n := p.TokenRequests("refresh_token") - before; n != tt.wantRefreshes {
				t.Errorf("got %d refreshes, want %d", n, tt.wantRefreshes)
			}
			rec, _ = store.Load(ctx, "acct") // the next case starts from the newest refresh token
		})
	}
}

// nativeLogin logs the provider's default user in with the native client
// (authorization code + PKCE, loopback redirect, headless browser) and
// returns the tokens as a storage record.
func nativeLogin(t *testing.T, p *oidctest.Provider) *storage.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	codes := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case codes <- r.URL.Query():
		default:
		}
		io.WriteString(w, "done")
	}))
	defer cb.Close()
	e := p.Endpoints()
	cfg := &oauth2.Config{
		ClientID:    p.NativeClient(),
		Endpoint:    oauth2.Endpoint{AuthURL: e.Authorization, TokenURL: e.Token, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: cb.URL + "/callback",
		Scopes:      []string{"openid", "offline_access"},
	}
	verifier := oauth2.GenerateVerifier()
	if err := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)(ctx, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))); err != nil {
		t.Fatal(err)
	}
	q := <-codes
	if q.Get("state") != "st" || q.Get("code") == "" {
		t.Fatalf("callback got %v, want a code and the state", q)
	}
	rec, err := tokensource.Exchange(ctx, nil, cfg, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {cfg.RedirectURL}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	rec.Version, rec.AuthTime = 1, time.Now()
	return rec
}
