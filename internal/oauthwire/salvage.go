package oauthwire

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// secretMembers are the response members that carry a credential.
var secretMembers = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true,
	"device_code": true, "issued_token": true, "code": true,
}

// Secrets returns the values of the members of a token-endpoint response
// body that carry credentials (access_token, refresh_token, id_token, …),
// so that they can be scrubbed from an error that keeps the body. It
// reads JSON as far as it is well formed, so a truncated or otherwise
// broken body still gives up the values before the damage, and falls back
// to form encoding.
func Secrets(body []byte) []string {
	var out []string
	if !looksJSON(body) {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range vals {
				if secretMembers[k] {
					out = append(out, vs...)
				}
			}
		}
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	prev := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		s, ok := tok.(string)
		if ok && secretMembers[prev] {
			out = append(out, s)
		}
		prev = s
	}
}

// Rotated returns the refresh token, and its lifetime in seconds (0 when
// unknown), of a success body that [Parse] refused for another reason,
// such as a malformed expires_in: the server has issued, and so rotated,
// that refresh token all the same. It returns "" when the body is not a
// well-formed object (duplicates and trailing data refused, as by Parse)
// or carries no refresh_token string.
func Rotated(contentType string, body []byte) (string, int64) {
	fields, err := decode(contentType, body)
	if err != nil {
		return "", 0
	}
	rt, _ := fields["refresh_token"].(string)
	if rt == "" {
		return "", 0
	}
	for _, name := range []string{"refresh_expires_in", "refresh_token_expires_in"} {
		if n, err := seconds(fields, name); err == nil && n > 0 {
			return rt, n
		}
	}
	return rt, 0
}
