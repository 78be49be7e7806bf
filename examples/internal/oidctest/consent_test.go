package oidctest_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// TestConsentAllow: with Options.Consent the login goes through the consent page, which
// Provider.Browser answers with Allow, and the app gets a code that redeems.
func TestConsentAllow(t *testing.T) {
	p := start(t, oidctest.Options{Consent: true})
	_, tok := loginNative(t, t.Context(), p, "openid", "offline_access")
	if tok.RefreshToken == "" {
		t.Error("no refresh token after consent")
	}
}

// TestConsentDeny presses Deny on the consent page as a user would: the OP redirects to the
// app with error=access_denied and the request's state, and the request cannot be allowed
// afterwards.
func TestConsentDeny(t *testing.T) {
	p := start(t, oidctest.Options{Consent: true})
	ctx := t.Context()
	cb := newCallbackServer(t)
	state := oauth2.GenerateVerifier()
	authURL := nativeConfig(p, cb, "openid", "offline_access").AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), p.Issuer()) {
			return http.ErrUseLastResponse // stop at the redirect to the app
		}
		return nil
	}}
	get := func(method, target string, form url.Values) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	idRe := regexp.MustCompile(`name="id" value="([^"]+)"`)

	resp, body := get(http.MethodGet, authURL, nil)
	m := idRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form: %s", body)
	}
	resp, body = get(http.MethodPost, p.Issuer()+"/login/username", url.Values{"id": {m[1]}, "username": {oidctest.DefaultUsername}, "password": {oidctest.DefaultPassword}})
	if !strings.Contains(body, `value="deny"`) {
		t.Fatalf("after the login form: got status %d and %q, want the consent page", resp.StatusCode, body)
	}
	consentURL := resp.Request.URL.String()
	resp, _ = get(http.MethodPost, consentURL, url.Values{"id": {m[1]}, "decision": {"deny"}})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("Deny: got status %d, want a redirect to the app: %v", resp.StatusCode, err)
	}
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), cb.URL+"/callback?") || q.Get("error") != "access_denied" || q.Get("state") != state || q.Has("code") {
		t.Fatalf("Deny redirected to %s, want the app's callback with error=access_denied and the state", loc.Redacted())
	}
	if q.Get("error_description") == "" {
		t.Error("Deny: no error_description")
	}
	resp, _ = get(http.MethodPost, consentURL, url.Values{"id": {m[1]}, "decision": {"allow"}})
	if loc, err := resp.Location(); err == nil && loc.Query().Has("code") {
		t.Fatal("Allow after Deny issued a code")
	}
}
