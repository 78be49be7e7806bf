package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func deviceConfig(p *oidctest.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.DeviceClient(),
		Endpoint: endpoint(p, oauth2.AuthStyleInParams),
		Scopes:   []string{"openid", "profile", "offline_access"},
	}
}

// pollOnce makes one device access token request and returns the status and error code.
func pollOnce(t *testing.T, p *oidctest.Provider, deviceCode string) (int, string) {
	t.Helper()
	status, body := postForm(t, t.Context(), p.Endpoints().Token, url.Values{
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode},
		"client_id":   {p.DeviceClient()},
	}, "", "")
	code, _ := body["error"].(string)
	return status, code
}

// TestDeviceFlow runs RFC 8628 with x/oauth2: device authorization, a pending poll, the
// user's approval through the OP's pages, tokens with a refresh token, and a refresh.
func TestDeviceFlow(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg := deviceConfig(p)
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if da.Interval != 1 {
		t.Errorf("interval: got %d, want 1", da.Interval)
	}
	if da.VerificationURI != p.Endpoints().DeviceVerification {
		t.Errorf("verification_uri: got %q, want %q", da.VerificationURI, p.Endpoints().DeviceVerification)
	}
	if !strings.Contains(da.VerificationURIComplete, "user_code=") || da.UserCode == "" || da.DeviceCode == "" {
		t.Errorf("device authorization response incomplete: %+v", da)
	}
	if status, code := pollOnce(t, p, da.DeviceCode); status != http.StatusBadRequest || code != "authorization_pending" {
		t.Fatalf("poll before approval: got %d %q, want 400 authorization_pending", status, code)
	}

	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() { // the device polls while the user approves
		tok, err := cfg.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()
	if err := p.ApproveDevice(ctx, da.UserCode, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	if r.tok.AccessToken == "" || r.tok.RefreshToken == "" {
		t.Fatalf("device tokens: got access %t refresh %t, want both", r.tok.AccessToken != "", r.tok.RefreshToken != "")
	}
	if status, _, info := getJSON(t, ctx, p.Endpoints().Userinfo, r.tok.AccessToken); status != http.StatusOK || info["sub"] != oidctest.DefaultUsername {
		t.Errorf("userinfo with the device token: got %d %v", status, info)
	}
	// Quirk of the example OP: the device code can be redeemed again.
	if status, code := pollOnce(t, p, da.DeviceCode); status != http.StatusOK {
		t.Errorf("second redemption of the device code: got %d %q; the docs say it succeeds", status, code)
	}
	next, err := refresh(ctx, cfg, r.tok.RefreshToken)
	if err != nil {
		t.Fatalf("refreshing the device flow's token: %v", err)
	}
	if next.RefreshToken == r.tok.RefreshToken {
		t.Errorf("device refresh did not rotate")
	}
	if got := p.TokenRequests("urn:ietf:params:oauth:grant-type:device_code"); got < 2 {
		t.Errorf("device_code token requests: got %d, want at least 2", got)
	}
}

func TestDeviceDenyAndErrors(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	da, err := deviceConfig(p).DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("wrong password", func(t *testing.T) {
		err := p.ApproveDevice(ctx, da.UserCode, oidctest.DefaultUsername, "wrong")
		if err == nil || !strings.Contains(err.Error(), "username or password wrong") {
			t.Fatalf("got %v, want the OP's login error", err)
		}
	})
	t.Run("unknown user code", func(t *testing.T) {
		err := p.ApproveDevice(ctx, "XXXX-XXXX", oidctest.DefaultUsername, oidctest.DefaultPassword)
		if err == nil || !strings.Contains(err.Error(), "user code not found") {
			t.Fatalf("got %v, want user code not found", err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		if err := p.DenyDevice(ctx, da.UserCode, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
			t.Fatalf("DenyDevice: %v", err)
		}
		if status, code := pollOnce(t, p, da.DeviceCode); status != http.StatusBadRequest || code != "access_denied" {
			t.Fatalf("poll after denial: got %d %q, want 400 access_denied", status, code)
		}
	})
}
