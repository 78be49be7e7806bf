package client_test

import (
	"errors"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// refreshCase is one ID token returned by a refresh.
type refreshCase struct {
	name string
	// idToken returns the refresh response's id_token ("": none). It runs
	// with op.mu held and may set op's fields.
	idToken func(t *testing.T, op *fakeOP) string
	// want: "new" (the refreshed ID token is kept), "prev" (dropped, the
	// previous one kept) or an error the refresh must fail with.
	want any
	log  string // a substring the client's log must have
}

func (tc refreshCase) run(t *testing.T) { tc.runFrom(t, nil) }

// runFrom runs tc after a login whose ID token has the extra claims orig;
// seen is called with the login's nonce.
func (tc refreshCase) runFrom(t *testing.T, orig map[string]any, seen ...func(nonce string)) {
	op := (&fakeOP{}).serve(t)
	var logs syncBuffer
	a := account(t, fakeClient(t, op, func(c *client.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }))
	prev := webLoginWith(t, op, a, orig, seen...)
	var idt string
	op.set(func(op *fakeOP) {
		idt = tc.idToken(t, op)
		op.token = func(form url.Values) (int, any) {
			if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-1" {
				return 400, map[string]string{"error": "invalid_grant"}
			}
			return 200, tokenResponse("at-2", "rt-2", idt)
		}
	})
	next, err := forceRefresh(t, a)
	switch want := tc.want.(type) {
	case error:
		var lr *tokensource.LoginRequiredError
		if !errors.As(err, &lr) || lr.Reason != tokensource.ReasonCheckFailed || !errors.Is(err, want) {
			t.Fatalf("refresh: got %v, want LoginRequired (check failed) matching %v", err, want)
		}
		if _, err := a.TokenSource().TokenContext(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
			t.Errorf("after the refused refresh: got %v, want ErrLoginRequired", err)
		}
	case string:
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken != "rt-2" {
			t.Errorf("refresh token: got %q, want rt-2", next.RefreshToken)
		}
		got := map[bool]string{true: "new", false: "prev"}[next.IDToken == idt]
		if next.IDToken != idt && next.IDToken != prev.IDToken {
			got = "other"
		}
		if got != want {
			t.Errorf("ID token after refresh: got the %s one, want the %s one", got, want)
		}
		if _, err := a.IDToken(t.Context()); err != nil {
			t.Errorf("IDToken after refresh: %v", err)
		}
	}
	if !strings.Contains(logs.String(), tc.log) {
		t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
	}
}

func TestRefreshedIDToken(t *testing.T) {
	claims := func(op *fakeOP, edit func(map[string]any)) map[string]any {
		c := op.claims("")
		c["iat"] = time.Now().Add(time.Second).Unix()
		if edit != nil {
			edit(c)
		}
		return c
	}
	for _, tc := range []refreshCase{
		{"same subject", func(t *testing.T, op *fakeOP) string { return signRS256(t, claims(op, nil)) }, "new", ""},
		{"with at_hash", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["at_hash"] = atHash("at-2") }))
		}, "new", ""},
		{"none", func(*testing.T, *fakeOP) string { return "" }, "prev", ""},
		{"other subject", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["sub"] = "user-2" }))
		}, client.ErrSubjectMismatch, ""},
		{"other audience", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["aud"] = "other-app" }))
		}, client.ErrAudienceMismatch, ""},
		{"other issuer", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["iss"] = "https://evil.example" }))
		}, client.ErrIssuerMismatch, ""},
		{"JWKS unreachable for a new key", func(t *testing.T, op *fakeOP) string {
			op.jwksStatus = 503
			return sign(t, jose.RS256, otherKey(), "key-2", claims(op, nil))
		}, "prev", "provider keys unavailable"},
		{"bad signature", func(t *testing.T, op *fakeOP) string {
			return sign(t, jose.RS256, otherKey(), fakeKID, claims(op, nil))
		}, "prev", "invalid ID token"},
		{"expired", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
		}, "prev", ""},
		{"other nonce", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["nonce"] = "different" }))
		}, "prev", ""},
		{"bad at_hash", func(t *testing.T, op *fakeOP) string {
			return signRS256(t, claims(op, func(c map[string]any) { c["at_hash"] = atHash("at-1") }))
		}, "prev", ""},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestRefreshedIDTokenAuthTime: a refreshed ID token keeps the original's
// auth_time (OpenID Connect Core §12.2) and azp; its nonce, if any, is the
// original's.
func TestRefreshedIDTokenAuthTime(t *testing.T) {
	const t0 = 1700000000
	for _, tc := range []struct {
		name       string
		orig, next map[string]any // claims added to the login's and the refresh's ID tokens
		want       any            // as refreshCase.want
	}{
		{"same auth_time", map[string]any{"auth_time": t0}, map[string]any{"auth_time": t0}, "new"},
		{"other auth_time", map[string]any{"auth_time": t0}, map[string]any{"auth_time": t0 + 60}, client.ErrAuthTimeMismatch},
		{"auth_time dropped", map[string]any{"auth_time": t0}, nil, client.ErrAuthTimeMismatch},
		{"no auth_time, then one", nil, map[string]any{"auth_time": t0}, "new"},
		{"same azp", map[string]any{"azp": fakeClientID}, map[string]any{"azp": fakeClientID}, "new"},
		{"azp added", nil, map[string]any{"azp": fakeClientID}, client.ErrAudienceMismatch},
		{"azp dropped", map[string]any{"azp": fakeClientID}, nil, client.ErrAudienceMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := refreshCase{name: tc.name, want: tc.want, idToken: func(t *testing.T, op *fakeOP) string {
				c := op.claims("")
				c["iat"] = time.Now().Add(time.Second).Unix()
				maps.Copy(c, tc.next)
				return signRS256(t, c)
			}}
			rc.runFrom(t, tc.orig)
		})
	}
}

// TestRefreshedIDTokenNonce: a refreshed ID token without a nonce, or
// with the original's, is kept; another nonce drops it.
func TestRefreshedIDTokenNonce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nonce func(orig string) any // the refreshed token's nonce claim; nil: none
		want  string
	}{
		{"absent", func(string) any { return nil }, "new"},
		{"equal", func(orig string) any { return orig }, "new"},
		{"other", func(orig string) any { return "x" + orig }, "prev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var origNonce string
			rc := refreshCase{name: tc.name, want: tc.want, idToken: func(t *testing.T, op *fakeOP) string {
				c := op.claims("")
				c["iat"] = time.Now().Add(time.Second).Unix()
				if n := tc.nonce(origNonce); n != nil {
					c["nonce"] = n
				}
				return signRS256(t, c)
			}}
			rc.runFrom(t, nil, func(nonce string) { origNonce = nonce })
		})
	}
}
