package client_test

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// webLogin logs a into the fake OP through the web flow with a valid ID
// token, and returns the saved record.
func webLogin(t *testing.T, op *fakeOP, a *client.Account) *storage.Token {
	t.Helper()
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt := signRS256(t, op.claims(req.Nonce))
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

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

func (tc refreshCase) run(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	var logs syncBuffer
	a := account(t, fakeClient(t, op, func(c *client.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }))
	prev := webLogin(t, op, a)
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
