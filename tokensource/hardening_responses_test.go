package tokensource

// Hardening, token responses and error classification (issue 6). The whole
// case list and where each case is proved is in HARDENING.md at the
// repository root.
//
//	duplicate keys, trailing garbage          errors_test.go:TestBadTokenResponses (and oauthwire's FuzzParse)
//	control characters / markup in            TestErrorDescriptionSanitised
//	  error_description
//	token_type missing (or lower case)        TestTokenResponseShapes
//	scope narrower than asked                 TestTokenResponseShapes
//	id_token absent on refresh                TestTokenResponseShapes (rotating), source_test.go:TestResponseWithoutRefreshTokenKeepsOld
//	dead refresh token answered with          errors_test.go:TestInvalidRequestRequiresLoginAndDeletesDeadRecord,
//	  invalid_request                           classify_test.go:TestClassification
//
// How errors are classified is the table in the package documentation
// (doc.go), tested row by row in classify_test.go:TestClassification.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// hostile is an error_description that tries to forge a log line, recolour
// a terminal, reverse text and inject markup.
const hostile = "\u001b[31mred\r\nlevel=ERROR msg=forged\u202e<script>alert(1)</script>\u0000end"

// TestErrorDescriptionSanitised: whatever the provider puts in
// error_description and error_uri, the error string, the *Error's
// Description and URI, the events and every log line carry no control
// character, no bidi override and no markup, so they cannot forge a log
// line or inject HTML where an app shows them.
func TestErrorDescriptionSanitised(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   string
		login  bool
	}{
		{"invalid_grant", http.StatusBadRequest, "invalid_grant", true},
		{"invalid_request", http.StatusBadRequest, "invalid_request", true},
		{"server_error (temporary)", http.StatusServiceUnavailable, "server_error", false},
		{"invalid_client", http.StatusUnauthorized, "invalid_client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				json.NewEncoder(w).Encode(map[string]string{"error": tt.code, "error_description": hostile, "error_uri": "https://idp.example/e\r\n<b>"})
				return true
			}
			f := newFixture(t, srv, expired, func(c *Config) { c.RefreshTimeout = 5 * time.Second })
			_, err := f.src.Token()
			var te *Error
			if !errors.As(err, &te) || te.Code != tt.code || errors.Is(err, ErrLoginRequired) != tt.login {
				t.Fatalf("got %v, want the provider's %s (login required: %v)", err, tt.code, tt.login)
			}
			if !strings.Contains(te.Description, "red") || !strings.Contains(te.Description, "end") {
				t.Errorf("got Description %q, want the text kept", te.Description)
			}
			outputs := []string{err.Error(), te.Description, te.URI, fmt.Sprintf("%v|%+v|%#v", err, err, te)}
			f.events.mu.Lock()
			for _, ev := range f.events.events {
				if ev.Err != nil {
					outputs = append(outputs, ev.Err.Error())
				}
			}
			f.events.mu.Unlock()
			for _, out := range outputs {
				if i := strings.IndexFunc(out, func(r rune) bool {
					return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '<' || r == '>'
				}); i >= 0 {
					t.Errorf("got %q, which holds %q at %d", out, out[i:i+1], i)
				}
			}
			for line := range strings.Lines(f.logs.String()) {
				if strings.HasPrefix(line, "level=ERROR msg=forged") || strings.ContainsAny(line, "\x1b\u202e<>") {
					t.Errorf("log line forged or not sanitised: %q", line)
				}
			}
		})
	}
}

// TestTokenResponseShapes: the differences between providers' token
// responses are normalised, never errors.
//
//   - token_type missing or in any letter case: the token is a Bearer
//     token (RFC 6749 §7.1 makes the type case-insensitive; a missing type
//     is taken as Bearer, the only type the SDK sends).
//   - scope narrower than asked: recorded as granted (RFC 6749 §3.3 lets
//     the server narrow it) and exposed as the token's "scope" extra; not
//     an error. The app can compare it with what it needs.
//   - scope absent: the scope is unchanged (§5.1), the previous is kept.
//   - id_token absent on a refresh that rotates: the previous ID token is
//     kept (OIDC Core §12.2: a refresh response need not carry one); a new
//     one replaces it.
//   - expires_in absent: the access token's own exp claim when it is a
//     JWT, otherwise no expiry (served until the resource server rejects
//     it; the transport's 401 path refreshes then).
func TestTokenResponseShapes(t *testing.T) {
	jwtAT := "eyJhbGciOiJub25lIn0." + b64(fmt.Sprintf(`{"exp":%d}`, time.Now().Add(time.Hour).Unix())) + "."
	tests := []struct {
		name string
		body string
		want func(t *testing.T, prev, rec *storage.Token)
	}{
		{"token_type missing", `{"access_token":"at-2","expires_in":3600,"refresh_token":"rt-2"}`, func(t *testing.T, _, rec *storage.Token) {
			if rec.TokenType != "Bearer" {
				t.Errorf("got token type %q, want Bearer", rec.TokenType)
			}
		}},
		{"token_type lower case", `{"access_token":"at-2","token_type":"bearer","expires_in":3600}`, func(t *testing.T, _, rec *storage.Token) {
			if rec.TokenType != "Bearer" {
				t.Errorf("got token type %q, want Bearer", rec.TokenType)
			}
		}},
		{"scope narrower than asked", `{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"scope":"openid"}`, func(t *testing.T, _, rec *storage.Token) {
			if rec.Scope != "openid" {
				t.Errorf("got scope %q, want the narrower %q recorded", rec.Scope, "openid")
			}
		}},
		{"scope absent", `{"access_token":"at-2","token_type":"Bearer","expires_in":3600}`, func(t *testing.T, prev, rec *storage.Token) {
			if rec.Scope != prev.Scope {
				t.Errorf("got scope %q, want the previous %q kept", rec.Scope, prev.Scope)
			}
		}},
		{"id_token absent, refresh token rotated", `{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}`, func(t *testing.T, prev, rec *storage.Token) {
			if rec.IDToken != prev.IDToken || rec.RefreshToken != "rt-2" {
				t.Errorf("got ID token %q and refresh token %q, want the previous ID token and rt-2", rec.IDToken, rec.RefreshToken)
			}
		}},
		{"id_token present", `{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"id_token":"id-2"}`, func(t *testing.T, _, rec *storage.Token) {
			if rec.IDToken != "id-2" {
				t.Errorf("got ID token %q, want the new id-2", rec.IDToken)
			}
		}},
		{"expires_in absent, JWT access token", `{"access_token":"` + jwtAT + `","token_type":"Bearer"}`, func(t *testing.T, _, rec *storage.Token) {
			if d := time.Until(rec.Expiry); d < 59*time.Minute || d > time.Hour {
				t.Errorf("got expiry in %v, want the JWT's exp (1h)", d)
			}
		}},
		{"expires_in absent, opaque access token", `{"access_token":"at-2","token_type":"Bearer"}`, func(t *testing.T, _, rec *storage.Token) {
			if !rec.Expiry.IsZero() {
				t.Errorf("got expiry %v, want none", rec.Expiry)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
				return true
			}
			f := newFixture(t, srv, expired)
			prev := f.stored(t)
			prev.Scope, prev.IDToken = "openid profile email offline_access", "id-1"
			prev.Version++ // a Save that is not newer is refused (storage.ErrStale)
			f.store.Save(context.Background(), "acct", prev)

			tok, err := f.src.Token()
			if err != nil {
				t.Fatalf("got %v, want the response accepted", err)
			}
			rec := f.stored(t)
			if tok.AccessToken != rec.AccessToken || tok.Type() != "Bearer" {
				t.Errorf("got token %q of type %q, want the stored %q, Bearer", tok.AccessToken, tok.Type(), rec.AccessToken)
			}
			if got, _ := tok.Extra("scope").(string); got != rec.Scope {
				t.Errorf("got scope extra %q, want the recorded %q", got, rec.Scope)
			}
			if got, _ := tok.Extra("id_token").(string); got != rec.IDToken {
				t.Errorf("got id_token extra %q, want the recorded %q", got, rec.IDToken)
			}
			tt.want(t, prev, rec)
			if n := f.events.count(EventRefreshFailed) + f.events.count(EventLoginRequired); n != 0 {
				t.Errorf("got %d failure events, want none", n)
			}
		})
	}
}

// TestErrorClassification: error codes other than invalid_grant and
// invalid_request are not "log in again", are not temporary (no retry
// within the refresh), keep the stored token, and are not cached: each
// call asks the provider again. And invalid_request, like invalid_grant,
// re-reads the store once: a token a peer saved meanwhile is adopted
// instead of asking for a login.
func TestErrorClassification(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
	}{
		{http.StatusUnauthorized, "invalid_client"},
		{http.StatusBadRequest, "unauthorized_client"},
		{http.StatusBadRequest, "invalid_scope"},
		{http.StatusBadRequest, "unsupported_grant_type"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"error":%q}`, tt.code)
				return true
			}
			f := newFixture(t, srv, expired)
			before := f.stored(t)
			// The second call comes within the back-off step: the same
			// error, no second request.
			for i := 1; i <= 2; i++ {
				_, err := f.src.Token()
				var te *Error
				if !errors.As(err, &te) || te.Code != tt.code || te.Temporary() || errors.Is(err, ErrLoginRequired) {
					t.Fatalf("call %d: got %v, want a permanent *Error %s, not login required", i, err, tt.code)
				}
				client := tt.code == "invalid_client" || tt.code == "unauthorized_client"
				if errors.Is(err, ErrInvalidClient) != client {
					t.Errorf("call %d: errors.Is(%v, ErrInvalidClient) = %v, want %v", i, err, !client, client)
				}
				if n := srv.Requests(); n != 1 {
					t.Errorf("call %d: got %d token requests, want 1", i, n)
				}
			}
			if after := f.stored(t); *after != *before {
				t.Errorf("store changed: %v, was %v", after, before)
			}
		})
	}

	t.Run("invalid_request after a peer saved a newer token", func(t *testing.T) {
		srv := tokentest.NewServer()
		defer srv.Close()
		f := newFixture(t, srv, expired)
		var once sync.Once
		srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
			handled := false
			once.Do(func() { // a peer rotates while our request is out
				at, rt, exp := srv.Login()
				f.store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 7})
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":"invalid_request","error_description":"refresh token not found"}`)
				handled = true
			})
			return handled
		}
		tok, err := f.src.Token()
		if err != nil || tok.AccessToken != f.stored(t).AccessToken {
			t.Fatalf("got %v, %v; want the peer's token adopted", tok, err)
		}
		if f.events.count(EventAdopted) != 1 || f.events.count(EventLoginRequired) != 0 {
			t.Errorf("got %d adoptions and %d login-required events, want 1 and 0", f.events.count(EventAdopted), f.events.count(EventLoginRequired))
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
