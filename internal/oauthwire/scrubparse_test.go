package oauthwire

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParseScrubsDecodedError: a server that echoes the request in its
// error_description, JSON-escaping what it echoes. The secrets are removed
// from the decoded text, so the error code survives (scrubbing the raw body
// could break a JSON escape) and escaped secrets are caught.
func TestParseScrubsDecodedError(t *testing.T) {
	for _, secret := range []string{`"quoted-code`, `a&b<c>d-secret`, `back\slash-secret`, `plain-secret-1234`} {
		t.Run(secret, func(t *testing.T) {
			body, err := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": "unknown code " + secret + " sent"})
			if err != nil {
				t.Fatal(err)
			}
			_, er, err := Parse(400, "application/json", body, secret)
			if err != nil || er == nil || er.Code != "invalid_grant" {
				t.Fatalf("got %+v, %v; want the invalid_grant error", er, err)
			}
			if strings.Contains(er.Description, sanitize(secret, 300)) || !strings.Contains(er.Description, "[REDACTED]") {
				t.Errorf("description: got %q, want the secret redacted", er.Description)
			}
		})
	}
}

// TestParseKeepsSecretsInSuccess: a success may carry the refresh token
// the request sent (a provider that does not rotate); it is returned as
// sent.
func TestParseKeepsSecretsInSuccess(t *testing.T) {
	const rt = "the-refresh-token-sent"
	tok, _, err := Parse(200, "application/json", []byte(`{"access_token":"at-12345678","token_type":"Bearer","refresh_token":"`+rt+`"}`), rt)
	if err != nil || tok == nil || tok.RefreshToken != rt {
		t.Fatalf("got %+v, %v; want refresh token %q", tok, err, rt)
	}
}
