package nodeop

import (
	"crypto"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// The clients registered with every [Server]. All are native applications
// (OpenID Connect Dynamic Client Registration §2) whose redirect URI is
// [RedirectURI]: node-oidc-provider accepts any port on a loopback redirect
// URI of a native client (RFC 8252 §7.3), so a loopback listener on a
// random port works. PKCE (S256) is required of the public clients.
const (
	// NativeDPoPClientID is a public client (token_endpoint_auth_method
	// none) with dpop_bound_access_tokens: its token requests without a
	// DPoP proof are refused, and its access and refresh tokens are bound
	// to the proof's key. Grants: authorization_code, refresh_token and
	// the device authorization grant (RFC 8628).
	NativeDPoPClientID = "tk-native-dpop"
	// NativeClientID is a public client like NativeDPoPClientID that does
	// not require DPoP: its tokens are Bearer tokens unless a request
	// carries a proof, which binds them.
	NativeClientID = "tk-native"
	// ServiceClientID is a confidential client that authenticates with
	// private_key_jwt, signed by [Server.ClientKey], at the token,
	// revocation and device authorization endpoints. Grants:
	// client_credentials, authorization_code, refresh_token and the device
	// authorization grant.
	ServiceClientID = "tk-service"
	// ServiceDPoPClientID is ServiceClientID with dpop_bound_access_tokens.
	ServiceDPoPClientID = "tk-service-dpop"
)

// deviceGrant is the grant type of the device authorization grant (RFC 8628 §3.4).
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// RedirectURI is the registered redirect URI of every client; any port may
// be added to it.
const RedirectURI = "http://127.0.0.1/callback"

// Scopes are the scopes the provider knows. offline_access yields a refresh
// token only when the authorization request also has prompt=consent
// (node-oidc-provider follows OpenID Connect Core §11 to the letter).
var Scopes = []string{"openid", "offline_access", "profile", "email", "api"}

// clients returns the client metadata of the registered clients, with the
// public key of key (ID keyID) as the confidential clients' JWK set.
func clients(key crypto.Signer, keyID string) ([]map[string]any, error) {
	jwk := jose.JSONWebKey{Key: key.Public(), KeyID: keyID, Use: "sig"}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("nodeop: client key: %w", err)
	}
	var pub map[string]any
	if err := json.Unmarshal(raw, &pub); err != nil {
		return nil, fmt.Errorf("nodeop: client key: %w", err)
	}
	scope := strings.Join(Scopes, " ")
	public := func(id string, dpop bool) map[string]any {
		return map[string]any{
			"client_id":                  id,
			"application_type":           "native",
			"token_endpoint_auth_method": "none",
			"redirect_uris":              []string{RedirectURI},
			"grant_types":                []string{"authorization_code", "refresh_token", deviceGrant},
			"response_types":             []string{"code"},
			"scope":                      scope,
			"dpop_bound_access_tokens":   dpop,
		}
	}
	confidential := func(id string, dpop bool) map[string]any {
		return map[string]any{
			"client_id":                  id,
			"application_type":           "native",
			"token_endpoint_auth_method": "private_key_jwt",
			"jwks":                       map[string]any{"keys": []any{pub}},
			"redirect_uris":              []string{RedirectURI},
			"grant_types":                []string{"client_credentials", "authorization_code", "refresh_token", deviceGrant},
			"response_types":             []string{"code"},
			"scope":                      scope,
			"dpop_bound_access_tokens":   dpop,
		}
	}
	return []map[string]any{
		public(NativeDPoPClientID, true),
		public(NativeClientID, false),
		confidential(ServiceClientID, false),
		confidential(ServiceDPoPClientID, true),
	}, nil
}
