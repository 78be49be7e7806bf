package tokensource_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestExchangeKeepsAnUnrotatedRefreshToken: a provider that does not
// rotate answers a refresh with the refresh token it was sent. The token
// is kept as sent: scrubbing secrets from a success replaced it with
// "[REDACTED]", which the next refresh sent.
func TestExchangeKeepsAnUnrotatedRefreshToken(t *testing.T) {
	const rt = "long-lived-refresh-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-12345678", "token_type": "Bearer", "expires_in": 60, "refresh_token": r.FormValue("refresh_token")})
	}))
	defer srv.Close()
	got, err := tokensource.Exchange(t.Context(), srv.Client(), echoConfig(srv.URL), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil || got.RefreshToken != rt {
		t.Fatalf("got %v, %v; want refresh token %q", got, err, rt)
	}
}

// TestExchangeEchoedSecretWithJSONEscapes: a token endpoint that echoes
// the code it got, JSON-escaped. The provider's error code survives (a
// scrub of the raw body broke the escape: "malformed token response") and
// the code is not in the error.
func TestExchangeEchoedSecretWithJSONEscapes(t *testing.T) {
	const code = `"code&with<escapes>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "unknown code " + r.FormValue("code")})
	}))
	defer srv.Close()
	_, err := tokensource.Exchange(t.Context(), srv.Client(), echoConfig(srv.URL), url.Values{"grant_type": {"authorization_code"}, "code": {code}})
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("got %v, want the provider's invalid_grant", err)
	}
	if strings.Contains(err.Error(), "code&with") {
		t.Errorf("error %q holds the code", err)
	}
}

func echoConfig(tokenURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
}
