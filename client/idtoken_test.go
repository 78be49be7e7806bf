package client_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// idTokenCase is one ID token the token endpoint returns for a login.
type idTokenCase struct {
	name string
	// token returns the id_token to send for a login whose nonce is nonce
	// and whose access token is "at-1"; "" sends none. It runs with op.mu
	// held and may set op's fields.
	token func(t *testing.T, op *fakeOP, nonce string) string
	want  error // nil: the login succeeds
}

func (tc idTokenCase) run(t *testing.T) { tc.runWith(t) }

// runWith runs tc with a Client whose Config edit changes.
func (tc idTokenCase) runWith(t *testing.T, edit ...func(*client.Config)) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op, edit...))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	op.set(func(op *fakeOP) {
		idt := tc.token(t, op, req.Nonce)
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	err = a.Exchange(t.Context(), req, codeCallback(req))
	if tc.want == nil {
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if _, err := a.IDToken(t.Context()); err != nil {
			t.Fatalf("IDToken after login: %v", err)
		}
		return
	}
	wantErr(t, err, tc.want)
	t.Logf("error: %v", err)
	if _, err := a.TokenSource().Current(t.Context()); err == nil {
		t.Errorf("a refused login saved tokens")
	}
}

// with returns valid claims for nonce, changed by edit.
func with(op *fakeOP, nonce string, edit func(c map[string]any)) map[string]any {
	c := op.claims(nonce)
	edit(c)
	return c
}

func TestIDTokenVerification(t *testing.T) {
	for _, tc := range []idTokenCase{
		{"valid", func(t *testing.T, op *fakeOP, n string) string { return signRS256(t, op.claims(n)) }, nil},
		{"valid at_hash", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["at_hash"] = atHash("at-1") }))
		}, nil},
		{"bad at_hash", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["at_hash"] = atHash("other") }))
		}, client.ErrInvalidIDToken},
		{"untrusted extra audience with azp", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["aud"] = []string{fakeClientID, "api"}; c["azp"] = fakeClientID }))
		}, client.ErrAudienceMismatch},
		{"no id_token", func(*testing.T, *fakeOP, string) string { return "" }, client.ErrNoIDToken},
		{"wrong nonce", func(t *testing.T, op *fakeOP, n string) string { return signRS256(t, op.claims("not-"+n)) }, client.ErrNonceMismatch},
		{"no nonce", func(t *testing.T, op *fakeOP, n string) string { return signRS256(t, op.claims("")) }, client.ErrNonceMismatch},
		{"alg none", func(t *testing.T, op *fakeOP, n string) string { return unsigned(t, op.claims(n)) }, client.ErrInvalidIDToken},
		{"HS256 on a public client", func(t *testing.T, op *fakeOP, n string) string {
			return sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), fakeKID, op.claims(n))
		}, client.ErrInvalidIDToken},
		{"signed by another key", func(t *testing.T, op *fakeOP, n string) string {
			return sign(t, jose.RS256, otherKey(), fakeKID, op.claims(n))
		}, client.ErrInvalidIDToken},
		{"unknown kid", func(t *testing.T, op *fakeOP, n string) string {
			return sign(t, jose.RS256, otherKey(), "key-2", op.claims(n))
		}, client.ErrInvalidIDToken},
		{"wrong aud", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["aud"] = "other-app" }))
		}, client.ErrAudienceMismatch},
		{"extra aud without azp", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["aud"] = []string{fakeClientID, "api"} }))
		}, client.ErrAudienceMismatch},
		{"azp of another client", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["azp"] = "other-app" }))
		}, client.ErrAudienceMismatch},
		{"wrong iss", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["iss"] = "https://evil.example" }))
		}, client.ErrIssuerMismatch},
		{"expired", func(t *testing.T, op *fakeOP, n string) string {
			return signRS256(t, with(op, n, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
		}, client.ErrIDTokenExpired},
		{"garbage", func(*testing.T, *fakeOP, string) string { return "not.a.jwt" }, client.ErrInvalidIDToken},
		{"JWKS unavailable", func(t *testing.T, op *fakeOP, n string) string {
			op.jwksStatus = 503 // token runs with op.mu held
			return signRS256(t, op.claims(n))
		}, client.ErrKeysUnavailable},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestIDTokenExpiredKeepsCause shows that go-oidc's typed error is kept.
func TestIDTokenExpiredKeepsCause(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt := signRS256(t, with(op, req.Nonce, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	err = a.Exchange(t.Context(), req, codeCallback(req))
	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) || !errors.Is(err, client.ErrIDTokenExpired) {
		t.Fatalf("got %v, want ErrIDTokenExpired holding *oidc.TokenExpiredError", err)
	}
}
