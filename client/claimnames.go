package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Claim names this package reads, in their only valid spelling: from ID
// tokens (RFC 7519 §4.1, OpenID Connect Core §2) and from userinfo
// answers (OpenID Connect Core §5.1).
var (
	idTokenClaims  = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "nonce", "azp", "auth_time", "at_hash"}
	userInfoClaims = []string{"sub", "name", "email", "email_verified"}
)

// checkClaimNames refuses a claims object in which one of the names this
// package reads is ambiguous for encoding/json, which go-oidc and this
// package decode claims with and which matches member names ignoring
// letter case: the name spelled in another case ({"Aud":"app"} has no
// aud, but would be read as one), or given twice in any cases
// ({"aud":"other","Aud":"app"} would be read as aud "app"). Claim names
// are case-sensitive (RFC 7519 §4). Other members, and nested objects, are
// not looked at: a provider's custom claims are the application's to read.
func checkClaimNames(payload []byte, names []string) error {
	d := json.NewDecoder(bytes.NewReader(payload))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return errors.New("the claims are not a JSON object")
	}
	seen := make(map[string]bool)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return errors.New("the claims are not valid JSON")
		}
		name, _ := t.(string)
		if folded := strings.ToLower(name); slices.Contains(names, folded) {
			switch {
			case name != folded:
				return errors.New("a claim is named like a registered claim in other letter case")
			case seen[folded]:
				return errors.New("a registered claim is given twice")
			}
			seen[folded] = true
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return errors.New("the claims are not valid JSON")
		}
	}
	return nil
}
