package client

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzIDTokenClaims signs arbitrary claim JSON with the provider's key
// and verifies it as a freshly received ID token (exp, iat, nonce,
// IDTokenMaxAge 1 h, TrustedAudiences ["api"]). It must never panic, and
// an accepted token must satisfy every rule, checked here on the raw JSON
// independently of the verifier: iss is the issuer; aud holds the client
// ID and otherwise only trusted audiences; several audiences come with an
// azp, and an azp is the client ID; exp is not past; iat is present, at
// most IDTokenClockSkew ahead and at most an hour old; the nonce is the
// one sent. Refusals hold no control or markup characters.
func FuzzIDTokenClaims(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	const nonce = "nonce-1"
	seed := func(edit func(m map[string]any)) {
		m := validClaims(now)
		m["nonce"] = nonce
		edit(m)
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	seed(func(map[string]any) {})
	seed(func(m map[string]any) { delete(m, "iat") })
	seed(func(m map[string]any) { m["iat"] = now.Add(time.Hour).Unix() })
	seed(func(m map[string]any) { m["iat"] = now.Add(-2 * time.Hour).Unix() })
	seed(func(m map[string]any) { m["iat"] = 1e300 })
	seed(func(m map[string]any) { m["exp"] = now.Add(-time.Second).Unix() })
	seed(func(m map[string]any) { m["aud"] = []string{testClientID, "api"}; m["azp"] = testClientID })
	seed(func(m map[string]any) { m["aud"] = []string{testClientID, "evil"}; m["azp"] = testClientID })
	seed(func(m map[string]any) { m["aud"] = []string{testClientID, "api"} })
	seed(func(m map[string]any) { m["azp"] = "other\u202e<x>" })
	seed(func(m map[string]any) { m["iss"] = "https://evil.example" })
	seed(func(m map[string]any) { m["nonce"] = "other" })
	seed(func(m map[string]any) { delete(m, "nonce") })
	seed(func(m map[string]any) { m["auth_time"] = -1e300 })
	f.Add([]byte(`{"iss":"https://op.example","iss":"https://evil.example"}`))
	f.Add([]byte(`null`))

	rt := &jwksRT{}
	rt.set(pub(testRSA1(), "key-1", "RS256"))
	clock := &fakeClock{now: now}
	v := testVerifier(rt, clock, func(c *Config) { c.IDTokenMaxAge = time.Hour; c.TrustedAudiences = []string{"api"} })
	f.Fuzz(func(t *testing.T, payload []byte) {
		raw := signJWT(t, jose.RS256, testRSA1(), "key-1", payload)
		_, err := v.verify(t.Context(), raw, checks{nonce: nonce, expiry: true})
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "<>\x1b\r\n\u202e") {
				t.Fatalf("error holds control or markup characters: %q", msg)
			}
			return
		}
		if why := brokenRule(payload, now, nonce); why != "" {
			t.Fatalf("accepted %s although %s", payload, why)
		}
	})
}

// brokenRule returns the first ID token rule the claims break, "" if none.
func brokenRule(payload []byte, now time.Time, nonce string) string {
	var m map[string]any
	if json.Unmarshal(payload, &m) != nil {
		return "the payload is not a JSON object"
	}
	var aud []string
	switch a := m["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			s, _ := x.(string)
			aud = append(aud, s)
		}
	}
	azp, hasAZP := m["azp"].(string)
	exp, _ := m["exp"].(float64)
	iat, hasIAT := m["iat"].(float64)
	n := float64(now.Unix())
	switch {
	case m["iss"] != testIssuer:
		return "iss is not the issuer"
	case !slices.Contains(aud, testClientID):
		return "aud lacks the client ID"
	case slices.ContainsFunc(aud, func(a string) bool { return a != testClientID && a != "api" }):
		return "aud has an untrusted audience"
	case len(aud) > 1 && !hasAZP:
		return "several audiences and no azp"
	case hasAZP && azp != testClientID:
		return "azp is not the client ID"
	case exp < n:
		return "exp has passed"
	case !hasIAT:
		return "iat is missing"
	case iat > n+IDTokenClockSkew.Seconds():
		return "iat is in the future"
	case n-iat > time.Hour.Seconds():
		return "iat is older than IDTokenMaxAge"
	case m["nonce"] != nonce:
		return "the nonce is not the one sent"
	}
	return ""
}
