package client_test

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// TestNoRefreshTokenAtLogin: a login that asked for offline access and got
// no refresh token succeeds; LastLogin says so (ErrNoRefreshToken, with
// the usual causes) and the log warns.
func TestNoRefreshTokenAtLogin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh string
		noOff   bool
		want    bool // NoRefreshToken set
	}{
		{"missing", "", false, true},
		{"issued", "rt-1", false, false},
		{"not asked", "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := (&fakeOP{}).serve(t)
			var logs syncBuffer
			a := account(t, fakeClient(t, op, func(c *client.Config) {
				c.NoOfflineAccess = tc.noOff
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			}))
			if _, ok := a.LastLogin(); ok {
				t.Fatal("LastLogin before any login: ok")
			}
			req, err := a.AuthCodeURL(webRedirect)
			if err != nil {
				t.Fatal(err)
			}
			idt := signRS256(t, op.claims(req.Nonce))
			op.set(func(op *fakeOP) {
				op.token = func(url.Values) (int, any) {
					r := tokenResponse("at-1", tc.refresh, idt)
					if tc.refresh == "" {
						delete(r, "refresh_token")
					}
					r["scope"] = "openid"
					return 200, r
				}
			})
			if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			r, ok := a.LastLogin()
			if !ok || r.Grant != "authorization_code" || r.RefreshToken != (tc.refresh != "") || r.Scope != "openid" {
				t.Fatalf("LastLogin: got %+v, %t", r, ok)
			}
			if got := r.NoRefreshToken != nil; got != tc.want {
				t.Fatalf("NoRefreshToken: got %v, want set=%t", r.NoRefreshToken, tc.want)
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "no refresh token")
			if warned != tc.want {
				t.Errorf("warned: got %t, want %t:\n%s", warned, tc.want, logs.String())
			}
			if !tc.want {
				return
			}
			if !errors.Is(r.NoRefreshToken, client.ErrNoRefreshToken) {
				t.Errorf("NoRefreshToken %v does not match ErrNoRefreshToken", r.NoRefreshToken)
			}
			for _, s := range []string{"prompt=consent", "offline_access"} {
				if !strings.Contains(r.NoRefreshToken.Error(), s) || !strings.Contains(logs.String(), s) {
					t.Errorf("the causes do not mention %q: %v", s, r.NoRefreshToken)
				}
			}
		})
	}
}

// TestPromptConsent: PromptConsent sends prompt=consent unless AuthParams
// sets another prompt or no offline access is asked.
func TestPromptConsent(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	for _, tc := range []struct {
		name string
		edit func(*client.Config)
		want string
	}{
		{"off", func(*client.Config) {}, ""},
		{"on", func(c *client.Config) { c.PromptConsent = true }, "consent"},
		{"AuthParams wins", func(c *client.Config) {
			c.PromptConsent = true
			c.AuthParams = map[string]string{"prompt": "login"}
		}, "login"},
		{"no offline access", func(c *client.Config) { c.PromptConsent, c.NoOfflineAccess = true, true }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := account(t, fakeClient(t, op, tc.edit)).AuthCodeURL(webRedirect)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustQuery(t, req.URL).Get("prompt"); got != tc.want {
				t.Errorf("prompt: got %q, want %q", got, tc.want)
			}
		})
	}
}
