package client_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// dpopWebLogin logs a in through the web flow with DPoP-bound tokens and
// returns the thumbprint of the login's key.
func dpopWebLogin(t *testing.T, op *dpopOP, a *client.Account) string {
	t.Helper()
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	answerDPoP(t, op, req.Nonce)
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return mustQuery(t, req.URL).Get("dpop_jkt")
}

// proofsAt returns the verified proofs sent to path.
func proofsAt(op *dpopOP, path string) []seenProof {
	proofs, _ := op.seen()
	var got []seenProof
	for _, p := range proofs {
		if p.path == path {
			got = append(got, p)
		}
	}
	return got
}

// TestDPoPRevocation: logout revokes both tokens with proofs by the
// account's key (no ath), takes the nonce a use_dpop_nonce answer gives
// and retries once with it, and remembers it for the next request.
func TestDPoPRevocation(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	jkt := dpopWebLogin(t, op, a)
	op.mu.Lock()
	op.nonce = "nonce-r"
	op.mu.Unlock()
	if err := a.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	got := proofsAt(op, "/revoke")
	if len(got) != 2 {
		t.Fatalf("got %d verified revocation proofs, want 2 (refresh and access token)", len(got))
	}
	for _, p := range got {
		if p.jkt != jkt || p.nonce != "nonce-r" || p.ath {
			t.Errorf("revocation proof %+v: want the login's key %s, nonce-r, no ath", p, jkt)
		}
	}
	if n := op.nonceAnswers(); n != 1 {
		t.Errorf("got %d use_dpop_nonce answers, want 1: the nonce is remembered after the first", n)
	}
}

// TestDPoPRevocationRetriesOnce: a server that asks for a new nonce every
// time gets two requests per token, not a loop, and the logout reports
// the tokens not revoked.
func TestDPoPRevocationRetriesOnce(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	dpopWebLogin(t, op, a)
	op.mu.Lock()
	op.never = true
	op.mu.Unlock()
	wantErr(t, a.Logout(t.Context()), client.ErrNotRevoked)
	if n := op.nonceAnswers(); n != 4 {
		t.Errorf("got %d use_dpop_nonce answers, want 4 (2 tokens × one retry)", n)
	}
}

// TestDPoPUserInfo: userinfo is requested with "Authorization: DPoP" and a
// proof by the account's key with ath, and a 401 use_dpop_nonce is
// retried once with the nonce.
func TestDPoPUserInfo(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "RS256"))
	jkt := dpopWebLogin(t, op, a)
	op.mu.Lock()
	op.rsNonce = "nonce-u"
	op.mu.Unlock()
	info, err := a.UserInfo(t.Context())
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	if info.Subject != "user-1" {
		t.Errorf("sub %q, want user-1", info.Subject)
	}
	got := proofsAt(op, "/userinfo")
	if len(got) != 1 || got[0].jkt != jkt || !got[0].ath || got[0].nonce != "nonce-u" {
		t.Fatalf("userinfo proofs %+v: want one by %s with ath and nonce-u", got, jkt)
	}
	if n := op.nonceAnswers(); n != 1 {
		t.Errorf("got %d use_dpop_nonce answers, want 1", n)
	}

	op.mu.Lock()
	op.never = true
	op.mu.Unlock()
	if _, err := a.UserInfo(t.Context()); err == nil {
		t.Fatal("UserInfo: got nil, want an error from a server that always wants a new nonce")
	}
	if n := op.nonceAnswers(); n != 3 {
		t.Errorf("got %d use_dpop_nonce answers in all, want 3 (one retry for the second call)", n)
	}
}

// TestDPoPRefreshAndServiceAccount: a refresh through the account's
// Source is proven with the login's key and stays DPoP-bound; a service
// account with Config.DPoP gets DPoP-bound tokens with a key of its own.
func TestDPoPRefreshAndServiceAccount(t *testing.T) {
	op := serveDPoPOP(t)
	c := dpopClient(t, op, "ES256", func(c *client.Config) { c.ClientSecret = "s3cret-value" })
	a := account(t, c)
	jkt := dpopWebLogin(t, op, a)
	if _, err := forceRefresh(t, a); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	boundRecord(t, a, jkt)
	user := proofsAt(op, "/token")
	for _, p := range user {
		if p.jkt != jkt {
			t.Errorf("token proof %+v: want every one by the login's key %s", p, jkt)
		}
	}
	if len(user) < 2 {
		t.Errorf("got %d token proofs, want the login's and the refresh's", len(user))
	}

	svc, err := c.ServiceAccount("svc")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := svc.TokenSource().TokenContext(t.Context())
	if err != nil {
		t.Fatalf("service account token: %v", err)
	}
	if tok.Type() != tokensource.DPoPTokenType {
		t.Errorf("service account token type %q, want DPoP", tok.Type())
	}
	got := proofsAt(op, "/token")
	if len(got) != len(user)+1 || svc.TokenSource().DPoPKey() == nil || got[len(user)].jkt != svc.TokenSource().DPoPKey().Thumbprint() || got[len(user)].jkt == jkt {
		t.Errorf("token proofs %+v: want the client credentials grant proven by the service account's own key", got)
	}
}

// TestDPoPConfig: Config.DPoP takes "", ES256, RS256 or EdDSA, and
// dpop_jkt cannot be set through AuthParams.
func TestDPoPConfig(t *testing.T) {
	op := serveDPoPOP(t)
	for _, alg := range []string{"", "ES256", "RS256", "EdDSA"} {
		if _, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, DPoP: alg}); err != nil {
			t.Errorf("DPoP %q: %v", alg, err)
		}
	}
	for _, alg := range []string{"es256", "HS256", "none", "PS256", "ES384"} {
		if _, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, DPoP: alg}); err == nil {
			t.Errorf("DPoP %q: got nil, want an error", alg)
		}
	}
	if _, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, AuthParams: map[string]string{"dpop_jkt": "x"}}); err == nil {
		t.Error("AuthParams dpop_jkt: got nil, want an error")
	}
	a := account(t, dpopClient(t, op, "ES256"))
	if _, err := a.AuthCodeURL(webRedirect, client.AuthParam("dpop_jkt", "x")); err == nil {
		t.Error("AuthParam dpop_jkt: got nil, want an error")
	}
}

// TestDPoPSecretsHidden: no printed form of the client's types shows the
// DPoP key, and no error or log line shows a proof, even from userinfo
// and revocation endpoints that quote the proof they got.
func TestDPoPSecretsHidden(t *testing.T) {
	op := serveDPoPOP(t)
	var logs syncBuffer
	cfg := client.Config{Issuer: op.URL, ClientID: fakeClientID, DPoP: "ES256",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	c := newClient(t, cfg)
	a := account(t, c)
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt := signRS256(t, op.claims(req.Nonce))
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) {
			return 200, dpopTokens("access-token-canary-0123456789", "refresh-token-canary-0123456789", idt)
		}
	})
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err != nil {
		t.Fatal(err)
	}
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	login, _ := a.LastLogin()
	op.mu.Lock()
	op.echo = true
	op.mu.Unlock()
	_, uiErr := a.UserInfo(t.Context())
	if uiErr == nil {
		t.Fatal("UserInfo: got nil, want the echoing endpoint's error")
	}
	lr, err := a.LogoutWith(t.Context(), client.LogoutOptions{})
	if err != nil || lr.Err == nil {
		t.Fatalf("LogoutWith: %v, %v; want a revocation failure", lr, err)
	}
	var out strings.Builder
	for _, v := range []any{cfg, &cfg, c, a, req, *req, login, lr, *lr, lr.Err, uiErr, a.TokenSource().DPoPKey()} {
		out.WriteString(formats(v))
	}
	js, err := json.Marshal(req) // what a JSON session or log of the request shows
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "%v %+v %#v\n%s\n%s", lr.Err, lr.Err, lr.Err, logs.String(), js)
	secrets := append([]string{req.DPoPKey, rec.DPoPKey, rec.AccessToken, rec.RefreshToken}, op.rawProofs()...)
	if len(secrets) < 7 { // 2 keys, 2 tokens, the exchange's, userinfo's and the revocations' proofs
		t.Fatalf("got %d secrets, want the keys, the tokens and the proofs", len(secrets))
	}
	for _, s := range secrets {
		if len(s) < 24 || strings.Contains(out.String(), s) || strings.Contains(out.String(), s[len(s)/2:len(s)/2+12]) {
			t.Errorf("a secret (%.8s…) appears in the output", s)
		}
	}
	if !strings.Contains(formats(req), "DPoPKey:[REDACTED]") || !strings.Contains(formats(cfg), `DPoP:"ES256"`) {
		t.Errorf("formatted AuthRequest or Config does not say what it hides or which algorithm:\n%s", formats(req)+formats(cfg))
	}
}

// TestDPoPDiscoveryWarning: a provider whose discovery document does not
// list Config.DPoP's algorithm in dpop_signing_alg_values_supported gets a
// warning in the log (not an error: some support DPoP without saying so).
func TestDPoPDiscoveryWarning(t *testing.T) {
	for _, tc := range []struct {
		name  string
		algs  []string
		alg   string
		warns bool
	}{
		{"not advertised", nil, "ES256", true},
		{"listed", []string{"ES256", "RS256"}, "ES256", false},
		{"another algorithm", []string{"ES256"}, "EdDSA", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := serveDPoPOP(t)
			op.algs = tc.algs
			var logs syncBuffer
			dpopClient(t, op, tc.alg, func(c *client.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			if got := strings.Contains(logs.String(), "dpop_signing_alg_values_supported"); got != tc.warns {
				t.Errorf("warned: %t, want %t; log:\n%s", got, tc.warns, logs.String())
			}
		})
	}
}
