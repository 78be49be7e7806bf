package client_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

func TestFormatsHideSecrets(t *testing.T) {
	const secret = "client-secret-canary"
	op := (&fakeOP{}).serve(t)
	cfg := client.Config{Issuer: op.URL, ClientID: fakeClientID, ClientSecret: secret}
	c := newClient(t, cfg)
	a := account(t, c)
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	rec := webLogin(t, op, a)
	login, _ := a.LastLogin()
	seeded, _ := c.Account("seeded")
	_, seedErr := seeded.Seed(t.Context(), nil)
	lr, err := a.LogoutWith(t.Context(), client.LogoutOptions{EndSession: true, PostLogoutRedirectURI: "https://app.example/bye"})
	if err != nil || lr.EndSession == nil {
		t.Fatalf("LogoutWith: %v, %v", lr, err)
	}
	es := lr.EndSession
	for name, v := range map[string]any{"Config": cfg, "*Config": &cfg, "Client": c, "Account": a, "AuthRequest": req,
		"EndSessionRequest": *es, "*EndSessionRequest": es, "LogoutResult": *lr, "*LogoutResult": lr,
		"LoginResult": login, "Revocation": lr.Revocation, "Seed error": seedErr} {
		out := formats(v)
		for _, s := range []string{secret, req.State, req.Nonce, req.Verifier, es.State, rec.IDToken, rec.AccessToken, rec.RefreshToken} {
			if strings.Contains(out, s) {
				t.Errorf("%s: formatted output contains a secret:\n%s", name, out)
			}
		}
	}
	if !strings.Contains(formats(req), "[REDACTED]") {
		t.Error("AuthRequest's formatted output does not say what was redacted")
	}

	// A DPoP login's AuthRequest also holds the private key.
	dc := newClient(t, client.Config{Issuer: op.URL, ClientID: fakeClientID, DPoP: "EdDSA"})
	dreq, err := account(t, dc).AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"DPoP AuthRequest": dreq, "DPoP *AuthRequest": *dreq, "DPoP Client": dc} {
		if out := formats(v); dreq.DPoPKey == "" || strings.Contains(out, dreq.DPoPKey) {
			t.Errorf("%s: formatted output contains the DPoP key", name)
		}
	}
}

// TestNoSecretsInLogsOrErrors logs in, refreshes and fails in several ways
// with a debug logger, and looks for every secret in the log and the
// errors. The token endpoint echoes the request in its error description,
// as some servers do.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const (
		clientSecret = "client-secret-canary"
		code         = "authorization-code-canary"
		password     = "password-canary"
	)
	op := (&fakeOP{}).serve(t)
	var logs syncBuffer
	a := account(t, fakeClient(t, op, func(c *client.Config) {
		c.ClientSecret = clientSecret
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	secrets := []string{clientSecret, code, password, "at-1", "rt-1", "at-2", "rt-2"}
	var errs []error

	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt := signRS256(t, op.claims(req.Nonce))
	secrets = append(secrets, req.State, req.Nonce, req.Verifier, idt)
	echo := func(form url.Values) (int, any) {
		return 400, map[string]string{"error": "invalid_grant", "error_description": "bad request " + form.Encode()}
	}
	op.set(func(op *fakeOP) { op.token = echo })
	errs = append(errs, a.Exchange(t.Context(), req, url.Values{"code": {code}, "state": {req.State}}))
	errs = append(errs, a.LoginPassword(t.Context(), "user", password))

	req, err = a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt = signRS256(t, op.claims(req.Nonce))
	secrets = append(secrets, req.State, req.Nonce, req.Verifier, idt)
	op.set(func(op *fakeOP) {
		op.token = func(form url.Values) (int, any) {
			if form.Get("grant_type") == "refresh_token" {
				return 200, tokenResponse("at-2", "rt-2", "")
			}
			return 200, tokenResponse("at-1", "rt-1", idt)
		}
	})
	errs = append(errs, a.Exchange(t.Context(), req, url.Values{"code": {code}, "state": {req.State}}))
	errs = append(errs, a.Exchange(t.Context(), req, url.Values{"code": {code}, "state": {req.State}})) // replay
	errs = append(errs, a.Exchange(t.Context(), req, url.Values{"code": {code}, "state": {"x" + req.State}}))
	if _, err := forceRefresh(t, a); err != nil {
		t.Fatal(err)
	}
	op.set(func(op *fakeOP) { op.revokeCode = 500 })
	errs = append(errs, a.Logout(t.Context()))

	var all strings.Builder
	all.WriteString(logs.String())
	for _, err := range errs {
		if err != nil {
			fmt.Fprintf(&all, "%v\n%+v\n%#v\n", err, err, err)
		}
	}
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("a secret (%.6s…) appears in the logs or errors:\n%s", s, all.String())
		}
	}
	if len(errs) != 6 || errs[0] == nil || errs[1] == nil || errs[2] != nil || errs[3] == nil || errs[4] == nil || errs[5] == nil {
		t.Errorf("unexpected outcomes: %v", errs)
	}
}

// TestEveryTypeHidesSecrets prints every exported type of the package,
// value and pointer, alone and nested in a struct, a slice and a map,
// with every common verb and through slog's text and JSON handlers, and
// looks for the secrets each holds.
func TestEveryTypeHidesSecrets(t *testing.T) {
	const (
		secret  = "canary-client-secret"
		state   = "canary-state-0123456789"
		nonce   = "canary-nonce-0123456789"
		verif   = "canary-verifier-0123456789"
		body    = "canary-endpoint-body"
		bearer  = "canary-bearer-token"
		pwHint  = "canary-password-param"
		devCode = "canary-device-code"
	)
	op := (&fakeOP{}).serve(t)
	cfg := client.Config{Issuer: op.URL, ClientID: fakeClientID, ClientSecret: secret, AuthParams: map[string]string{"audience": "api"}}
	c := newClient(t, cfg)
	a := account(t, c)
	var loginNonce string
	webLoginWith(t, op, a, map[string]any{"at_hash": atHash("at-1")}, func(n string) { loginNonce = n })
	idt, err := a.IDToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.UserInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req := client.AuthRequest{URL: "https://op.example/auth?state=" + state + "&nonce=" + nonce, RedirectURI: webRedirect,
		State: state, Nonce: nonce, Verifier: verif, Created: time.Now()}
	ee := client.EndpointError{Endpoint: "userinfo", StatusCode: 401, Code: "invalid_token",
		Err: &tokensource.Error{Code: "invalid_token", StatusCode: 401, Body: []byte(body), Header: http.Header{"Authorization": {"Bearer " + bearer}}}}
	eeValueCause := client.EndpointError{Endpoint: "revocation", Err: leakyCause{Token: bearer}}
	ce := client.CallbackError{Code: "access_denied", Description: "no"}
	dc := client.DeviceCode{UserCode: "ABCD-EFGH", VerificationURI: "https://op.example/device", ExpiresAt: time.Now(), Interval: time.Second}
	lo := client.LoginOptions{Output: io.Discard, AuthParams: map[string]string{"login_hint": "user"}}
	values := map[string]any{
		"Config": cfg, "*Config": &cfg, "Endpoints": c.Endpoints(), "*Client": c, "*Account": a,
		"AuthRequest": req, "*AuthRequest": &req, "IDToken": *idt, "*IDToken": idt, "UserInfo": *info, "*UserInfo": info,
		"EndpointError": ee, "*EndpointError": &ee, "EndpointError with a value cause": eeValueCause, "*EndpointError with a value cause": &eeValueCause, "CallbackError": ce, "*CallbackError": &ce,
		"DeviceCode": dc, "*DeviceCode": &dc, "LoginOptions": lo, "*LoginOptions": &lo, "AuthOption": client.AuthParam("prompt", "consent"),
	}
	secrets := []string{secret, state, nonce, verif, body, bearer, pwHint, devCode, loginNonce, "at-1", "rt-1"}
	for name, v := range values {
		for shape, w := range map[string]any{
			"alone":  v,
			"struct": struct{ V any }{v},
			"slice":  []any{v},
			"map":    map[string]any{"k": v},
		} {
			out := formats(w)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s %s: output holds secret %q:\n%s", name, shape, s, out)
				}
			}
		}
	}
	if b, err := json.Marshal(cfg); err != nil || strings.Contains(string(b), secret) || !strings.Contains(string(b), "[REDACTED]") {
		t.Errorf("Config as JSON: got %s, %v; want it without the client secret", b, err)
	}
	// fmt calls no method on unexported fields: what an IDToken or a
	// UserInfo keeps besides its printed fields sits behind a pointer.
	hidden := formats(struct {
		tok  client.IDToken
		info client.UserInfo
	}{*idt, *info})
	if strings.Contains(hidden, loginNonce) {
		t.Errorf("IDToken in an unexported field shows its nonce:\n%s", hidden)
	}
}

// TestAuthRequestSessionRoundTrip: MarshalBinary and UnmarshalBinary
// (and gob, which uses them) keep every field, for session stores, while
// JSON has the secrets redacted.
func TestAuthRequestSessionRoundTrip(t *testing.T) {
	req := client.AuthRequest{URL: "https://op.example/auth?state=s", RedirectURI: webRedirect, State: "state-1", Nonce: "nonce-1", Verifier: "verifier-1", Created: time.Now().UTC().Round(0)}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(req); err != nil {
		t.Fatal(err)
	}
	var got client.AuthRequest
	if err := gob.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got != req {
		t.Errorf("gob round trip: got %#v, want the same request", []string{got.URL, got.State, got.Nonce, got.Verifier, got.Created.String()})
	}
	j, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), "state-1") || strings.Contains(string(j), "nonce-1") || strings.Contains(string(j), "verifier-1") || !strings.Contains(string(j), "[REDACTED]") {
		t.Errorf("JSON: got %s, want the secrets redacted", j)
	}
}

// leakyCause is an error value whose fields hold a secret that its Error
// leaves out; fmt's %#v would print them.
type leakyCause struct{ Token string }

func (leakyCause) Error() string { return "the cause" }
