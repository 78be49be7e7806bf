package client_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// formats prints v with every common verb and through slog.
func formats(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	slog.New(slog.NewJSONHandler(&b, nil)).Info("value", "v", v)
	slog.New(slog.NewTextHandler(&b, nil)).Info("value", "v", v)
	return b.String()
}

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
	for name, v := range map[string]any{"Config": cfg, "*Config": &cfg, "Client": c, "Account": a, "AuthRequest": req} {
		out := formats(v)
		for _, s := range []string{secret, req.State, req.Nonce, req.Verifier} {
			if strings.Contains(out, s) {
				t.Errorf("%s: formatted output contains a secret:\n%s", name, out)
			}
		}
	}
	if !strings.Contains(formats(req), "[REDACTED]") {
		t.Error("AuthRequest's formatted output does not say what was redacted")
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
