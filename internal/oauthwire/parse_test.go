package oauthwire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const jsonCT = "application/json; charset=utf-8"

func TestParseSuccess(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		want Token
	}{
		{"full", jsonCT, `{"access_token":"at","token_type":"Bearer","refresh_token":"rt","id_token":"idt","scope":"openid offline_access","expires_in":3600,"refresh_expires_in":86400}`,
			Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", IDToken: "idt", Scope: "openid offline_access", ExpiresIn: 3600, RefreshExpiresIn: 86400}},
		{"lower-case bearer", jsonCT, `{"access_token":"at","token_type":"bearer","expires_in":60}`,
			Token{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 60}},
		{"no token_type", jsonCT, `{"access_token":"at","expires_in":60}`, Token{AccessToken: "at", ExpiresIn: 60}},
		{"no expires_in", jsonCT, `{"access_token":"at","token_type":"BEARER"}`, Token{AccessToken: "at", TokenType: "Bearer"}},
		{"DPoP", jsonCT, `{"access_token":"at","token_type":"dpop"}`, Token{AccessToken: "at", TokenType: "DPoP"}},
		{"expires_in as string", jsonCT, `{"access_token":"at","expires_in":"3600"}`, Token{AccessToken: "at", ExpiresIn: 3600}},
		{"expires_in fractional", jsonCT, `{"access_token":"at","expires_in":59.9}`, Token{AccessToken: "at", ExpiresIn: 59}},
		{"expires_in zero", jsonCT, `{"access_token":"at","expires_in":0}`, Token{AccessToken: "at"}},
		{"expires_in null", jsonCT, `{"access_token":"at","expires_in":null}`, Token{AccessToken: "at"}},
		{"refresh_token_expires_in", jsonCT, `{"access_token":"at","refresh_token_expires_in":7776000}`, Token{AccessToken: "at", RefreshExpiresIn: 7776000}},
		{"scope array", jsonCT, `{"access_token":"at","scope":["a","b"]}`, Token{AccessToken: "at", Scope: "a b"}},
		{"empty refresh token", jsonCT, `{"access_token":"at","refresh_token":""}`, Token{AccessToken: "at"}},
		{"form encoded", "application/x-www-form-urlencoded", `access_token=at&token_type=bearer&expires_in=10&refresh_token=rt`,
			Token{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 10, RefreshToken: "rt"}},
		{"JSON without content type", "", ` {"access_token":"at"} `, Token{AccessToken: "at"}},
		{"JSON as text/plain", "text/plain", `{"access_token":"at"}`, Token{AccessToken: "at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, er, err := Parse(200, tt.ct, []byte(tt.body))
			if err != nil || er != nil {
				t.Fatalf("Parse: got error %v / %+v, want success", err, er)
			}
			if got.Extra["access_token"] != tt.want.AccessToken {
				t.Errorf("Extra lacks access_token: %v", got.Extra)
			}
			got.Extra = nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	huge := `{"access_token":"` + strings.Repeat("a", MaxBody) + `"}`
	tests := []struct {
		name   string
		status int
		ct     string
		body   string
	}{
		{"empty", 200, jsonCT, ``},
		{"HTML page", 200, "text/html", `<html><body>Service Unavailable</body></html>`},
		{"HTML 502", 502, "text/html", `<html>Bad gateway</html>`},
		{"JSON array", 200, jsonCT, `[{"access_token":"at"}]`},
		{"no access_token", 200, jsonCT, `{"token_type":"Bearer"}`},
		{"empty access_token", 200, jsonCT, `{"access_token":""}`},
		{"numeric access_token", 200, jsonCT, `{"access_token":12345}`},
		{"object access_token", 200, jsonCT, `{"access_token":{"v":"x"}}`},
		{"unknown token_type", 200, jsonCT, `{"access_token":"at","token_type":"mac"}`},
		{"negative expires_in", 200, jsonCT, `{"access_token":"at","expires_in":-5}`},
		{"huge expires_in", 200, jsonCT, `{"access_token":"at","expires_in":1e300}`},
		{"overflowing expires_in", 200, jsonCT, `{"access_token":"at","expires_in":99999999999999999999999}`},
		{"non-numeric expires_in", 200, jsonCT, `{"access_token":"at","expires_in":"soon"}`},
		{"boolean expires_in", 200, jsonCT, `{"access_token":"at","expires_in":true}`},
		{"non-string refresh_token", 200, jsonCT, `{"access_token":"at","refresh_token":1}`},
		{"non-string id_token", 200, jsonCT, `{"access_token":"at","id_token":false}`},
		{"non-string scope", 200, jsonCT, `{"access_token":"at","scope":7}`},
		{"duplicate access_token", 200, jsonCT, `{"access_token":"a","access_token":"b"}`},
		{"trailing garbage", 200, jsonCT, `{"access_token":"at"}{"access_token":"evil"}`},
		{"trailing text", 200, jsonCT, `{"access_token":"at"} x`},
		{"truncated", 200, jsonCT, `{"access_token":"at"`},
		{"too large", 200, jsonCT, huge},
		{"success status without token", 500, jsonCT, `{"access_token":"at"}`},
		{"non-string error", 400, jsonCT, `{"error":42}`},
		{"error with control characters", 400, jsonCT, `{"error":"bad\ncode"}`},
		{"duplicate form member", 200, "application/x-www-form-urlencoded", `access_token=a&access_token=b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, er, err := Parse(tt.status, tt.ct, []byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got token %v, error response %v, err %v; want ErrMalformed", tok, er, err)
			}
			if tok != nil || er != nil {
				t.Errorf("got token %v and error response %v alongside an error", tok, er)
			}
		})
	}
}

func TestParseErrorResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   ErrorResponse
	}{
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"Refresh token revoked","error_uri":"https://idp.example/e"}`,
			ErrorResponse{Code: "invalid_grant", Description: "Refresh token revoked", URI: "https://idp.example/e"}},
		{"error with HTTP 200", 200, `{"error":"invalid_grant"}`, ErrorResponse{Code: "invalid_grant"}},
		{"error beside a token", 200, `{"access_token":"at","error":"server_error"}`, ErrorResponse{Code: "server_error"}},
		{"markup and controls sanitised", 400, `{"error":"invalid_request","error_description":"<script>x</script>\u001b[31mred\r\nFAKE LOG LINE\u202e"}`,
			ErrorResponse{Code: "invalid_request", Description: "scriptx/script[31mred FAKE LOG LINE"}},
		{"description capped", 400, `{"error":"e","error_description":"` + strings.Repeat("d", 400) + `"}`,
			ErrorResponse{Code: "e", Description: strings.Repeat("d", 300) + "…"}},
		{"non-string description ignored", 400, `{"error":"e","error_description":5}`, ErrorResponse{Code: "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, er, err := Parse(tt.status, jsonCT, []byte(tt.body))
			if err != nil || tok != nil || er == nil {
				t.Fatalf("got %v, %v, %v; want an error response", tok, er, err)
			}
			if *er != tt.want {
				t.Errorf("got %+v, want %+v", *er, tt.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	got := Scrub("token rt-secret-1 is invalid for client s3cret", "rt-secret-1", "s3cret", "", "ab")
	if want := "token [REDACTED] is invalid for client [REDACTED]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestScrubError(t *testing.T) {
	cause := errors.New("dial: refused for token rt-secret-9")
	err := ScrubError(cause, "rt-secret-9")
	if strings.Contains(err.Error(), "rt-secret-9") || !errors.Is(err, cause) {
		t.Errorf("got %q (Is cause: %v), want the secret gone and the chain kept", err, errors.Is(err, cause))
	}
	if ScrubError(nil) != nil || ScrubError(cause, "absent!") != cause {
		t.Error("ScrubError changed an error with nothing to scrub")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		code, desc string
		cause      error
		status     int
		want       string
	}{
		{"invalid_grant", "revoked", nil, 400, "x: invalid_grant: revoked (HTTP 400)"},
		{"", "ignored without a code", errors.New("reset"), 0, "x: reset"},
		{"", "", nil, 0, "x"},
	}
	for _, tt := range tests {
		if got := ErrorString("x", tt.code, tt.desc, tt.cause, tt.status); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
