package client_test

import (
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// claimsCase is an ID token whose claims are valid ones changed by edit,
// received by a login of a Client whose Config cfg changes.
type claimsCase struct {
	name string
	edit func(c map[string]any)
	cfg  func(*client.Config) // nil: the default Config
	want error                // nil: the login succeeds
}

func runClaimsCases(t *testing.T, cases []claimsCase) {
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			tc := idTokenCase{name: cc.name, want: cc.want, token: func(t *testing.T, op *fakeOP, n string) string {
				return signRS256(t, with(op, n, cc.edit))
			}}
			var edit []func(*client.Config)
			if cc.cfg != nil {
				edit = append(edit, cc.cfg)
			}
			tc.runWith(t, edit...)
		})
	}
}

// TestIDTokenIssuedAt: iat is required, may be at most IDTokenClockSkew in
// the future, and, with Config.IDTokenMaxAge, no older than that (OpenID
// Connect Core §3.1.3.7 step 10).
func TestIDTokenIssuedAt(t *testing.T) {
	iat := func(d time.Duration) func(map[string]any) {
		return func(c map[string]any) { c["iat"] = time.Now().Add(d).Unix() }
	}
	maxAge := func(d time.Duration) func(*client.Config) {
		return func(c *client.Config) { c.IDTokenMaxAge = d }
	}
	runClaimsCases(t, []claimsCase{
		{name: "no iat", edit: func(c map[string]any) { delete(c, "iat") }, want: client.ErrIDTokenIssuedAt},
		{name: "iat null", edit: func(c map[string]any) { c["iat"] = nil }, want: client.ErrInvalidIDToken}, // go-oidc refuses it
		{name: "iat 10 min ahead", edit: iat(10 * time.Minute), want: client.ErrIDTokenIssuedAt},
		{name: "iat within the skew", edit: iat(client.IDTokenClockSkew - 10*time.Second)},
		{name: "iat far in the future", edit: func(c map[string]any) { c["iat"] = 1e300 }, want: client.ErrIDTokenIssuedAt},
		{name: "year-old iat, no max age", edit: iat(-365 * 24 * time.Hour)},
		{name: "year-old iat, max age 1h", edit: iat(-365 * 24 * time.Hour), cfg: maxAge(time.Hour), want: client.ErrIDTokenIssuedAt},
		{name: "2h-old iat, max age 1h", edit: iat(-2 * time.Hour), cfg: maxAge(time.Hour), want: client.ErrIDTokenIssuedAt},
		{name: "30min-old iat, max age 1h", edit: iat(-30 * time.Minute), cfg: maxAge(time.Hour)},
		{name: "iat 1970, max age 1h", edit: func(c map[string]any) { c["iat"] = 0 }, cfg: maxAge(time.Hour), want: client.ErrIDTokenIssuedAt},
	})
}

// TestIDTokenAudiences: an audience besides the client ID must be trusted
// (Config.TrustedAudiences), several audiences need an azp, and azp must
// be the client ID (OpenID Connect Core §3.1.3.7 steps 3 to 5).
func TestIDTokenAudiences(t *testing.T) {
	aud := func(azp string, aud ...string) func(map[string]any) {
		return func(c map[string]any) {
			c["aud"] = aud
			if azp != "" {
				c["azp"] = azp
			}
		}
	}
	trust := func(c *client.Config) { c.TrustedAudiences = []string{"https://api.example"} }
	const api, evil = "https://api.example", "https://evil-api.example"
	runClaimsCases(t, []claimsCase{
		{name: "client only, azp", edit: aud(fakeClientID, fakeClientID)},
		{name: "untrusted extra audience", edit: aud(fakeClientID, fakeClientID, evil), want: client.ErrAudienceMismatch},
		{name: "untrusted extra audience, others trusted", edit: aud(fakeClientID, fakeClientID, api, evil), cfg: trust, want: client.ErrAudienceMismatch},
		{name: "trusted extra audience", edit: aud(fakeClientID, fakeClientID, api), cfg: trust},
		{name: "trusted extra audience, no azp", edit: aud("", fakeClientID, api), cfg: trust, want: client.ErrAudienceMismatch},
		{name: "trusted extra audience, azp is it", edit: aud(api, fakeClientID, api), cfg: trust, want: client.ErrAudienceMismatch},
		{name: "only a trusted audience", edit: aud("", api), cfg: trust, want: client.ErrAudienceMismatch},
	})
}

// TestIDTokenClaimNamesAreCaseSensitive: claim names are case-sensitive
// (RFC 7519 §4), but encoding/json, which go-oidc decodes claims with,
// matches them ignoring case. A registered claim spelled in another case,
// or given twice in different cases, makes the token invalid rather than
// being read as the registered claim.
func TestIDTokenClaimNamesAreCaseSensitive(t *testing.T) {
	rename := func(from, to string) func(map[string]any) {
		return func(c map[string]any) { c[to] = c[from]; delete(c, from) }
	}
	runClaimsCases(t, []claimsCase{
		{name: "Aud instead of aud", edit: rename("aud", "Aud"), want: client.ErrInvalidIDToken},
		{name: "NONCE instead of nonce", edit: rename("nonce", "NONCE"), want: client.ErrInvalidIDToken},
		{name: "Iat instead of iat", edit: rename("iat", "Iat"), want: client.ErrInvalidIDToken},
		{name: "aud and AUD", edit: func(c map[string]any) { c["AUD"] = "https://evil.example" }, want: client.ErrInvalidIDToken},
		{name: "custom claims differing in case are the application's", edit: func(c map[string]any) { c["groups"], c["Groups"] = "a", "b" }},
	})
}
