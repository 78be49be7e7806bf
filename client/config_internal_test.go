package client

import (
	"slices"
	"strings"
	"testing"
)

// TestGoogleDefaults: for Google the client asks for a refresh token with
// access_type=offline and prompt=consent, not with offline_access (which
// Google refuses), unless told not to.
func TestGoogleDefaults(t *testing.T) {
	g := Config{Issuer: "https://accounts.google.com", ClientID: "x"}
	if s := g.loginScopes(); slices.Contains(s, "offline_access") {
		t.Errorf("Google scopes: got %q, want no offline_access", s)
	}
	if p := g.offlineParams(); p.Get("access_type") != "offline" || p.Get("prompt") != "consent" {
		t.Errorf("Google params: got %v", p)
	}
	g.NoProviderDefaults = true
	if s := g.loginScopes(); !slices.Contains(s, "offline_access") || len(g.offlineParams()) != 0 {
		t.Errorf("NoProviderDefaults: got scopes %q params %v", s, g.offlineParams())
	}
}

// TestNoRefreshHints: each known provider gets its own causes.
func TestNoRefreshHints(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://accounts.google.com":                       "access_type=offline",
		"https://tenant.eu.auth0.com/":                      "Allow Offline Access",
		"https://dev-1.okta.com/oauth2/default":             "Okta",
		"https://login.microsoftonline.com/tid/v2.0":        "Entra",
		"https://kc.example.com/realms/main":                "Keycloak",
		"https://eu-gb.appid.cloud.ibm.com/oauth/v4/tenant": "App ID",
		"https://dex.example.com":                           "Dex",
		"https://op.example.com":                            "prompt=consent",
	} {
		if got := noRefreshHint(issuer, "", ""); !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want it to mention %q", issuer, got, want)
		}
	}
}
