package oauthwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// MaxBody is the largest token-endpoint response body accepted, in bytes.
const MaxBody = 1 << 20

// MaxLifetime bounds expires_in and refresh-token lifetimes, in seconds
// (ten years). A larger value is taken as a broken server, not a promise.
const MaxLifetime = 10 * 365 * 24 * 60 * 60

// ErrMalformed is wrapped by every error about a response that cannot be a
// valid token response or error response.
var ErrMalformed = errors.New("malformed token response")

// Token is a successful token response.
type Token struct {
	AccessToken  string
	TokenType    string // "Bearer" or "DPoP" (normalised), or "" when the server sent none
	RefreshToken string // "" when the server sent none
	IDToken      string // "" when the server sent none
	Scope        string // "" when the server sent none

	// ExpiresIn is the access token's lifetime in seconds; 0 when the
	// server sent none, or 0, which both mean "unknown".
	ExpiresIn int64
	// RefreshExpiresIn is the refresh token's lifetime in seconds, from
	// refresh_expires_in or refresh_token_expires_in; 0 when unknown.
	RefreshExpiresIn int64

	// Extra holds every member of the response, for callers that need a
	// provider-specific one. Values are as encoding/json decodes them.
	Extra map[string]any
}

// ErrorResponse is an error response of RFC 6749 §5.2. Code holds only
// letters, digits, '_', '.', ':' and '-' (anything else the server sent
// is replaced with '_'). Description and URI are sanitised: control characters and markup are removed and they are
// capped in length, so they are safe to put in error strings.
type ErrorResponse struct {
	Code        string
	Description string
	URI         string
}

// Parse parses a token-endpoint response body. It returns a *Token for a
// well-formed success, an *ErrorResponse when the body carries an RFC 6749
// error (whatever the status; some servers send errors with 200), or an
// error wrapping [ErrMalformed]. status is the HTTP status code and
// contentType the Content-Type header. secrets (what the request carried)
// are removed from the error's description and URI once decoded, for
// servers that echo the request; a success is returned as sent. Parse
// never panics.
func Parse(status int, contentType string, body []byte, secrets ...string) (*Token, *ErrorResponse, error) {
	if len(body) > MaxBody {
		return nil, nil, fmt.Errorf("%w: body larger than %d bytes", ErrMalformed, MaxBody)
	}
	fields, err := decode(contentType, body)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := fields["error"]; ok {
		er, err := parseError(fields, secrets)
		return nil, er, err
	}
	if status < 200 || status > 299 {
		return nil, nil, fmt.Errorf("%w: HTTP %d without an error code", ErrMalformed, status)
	}
	t, err := parseToken(fields)
	if err != nil {
		return nil, nil, err
	}
	return t, nil, nil
}

// decode turns a JSON object (or, for old servers, a form-encoded body)
// into its members. Duplicate members and trailing data are refused: a
// response that two parsers could read differently is not a token.
func decode(contentType string, body []byte) (map[string]any, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" && !looksJSON(body) {
		return decodeForm(body)
	}
	if !looksJSON(body) {
		return nil, fmt.Errorf("%w: not a JSON object (Content-Type %q)", ErrMalformed, sanitize(mt, 64))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening '{', checked by looksJSON
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fields := make(map[string]any)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		key, _ := kt.(string)
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("%w: duplicate member %q", ErrMalformed, sanitize(key, 64))
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		fields[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	return fields, nil
}

func looksJSON(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func decodeForm(body []byte) (map[string]any, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: bad form encoding", ErrMalformed)
	}
	fields := make(map[string]any, len(vals))
	for k, v := range vals {
		if len(v) != 1 {
			return nil, fmt.Errorf("%w: duplicate member %q", ErrMalformed, sanitize(k, 64))
		}
		fields[k] = v[0]
	}
	return fields, nil
}

func parseError(fields map[string]any, secrets []string) (*ErrorResponse, error) {
	code, ok := fields["error"].(string)
	if !ok || code == "" || !isCode(code) {
		return nil, fmt.Errorf("%w: error member is not an RFC 6749 error code", ErrMalformed)
	}
	desc, _ := fields["error_description"].(string)
	uri, _ := fields["error_uri"].(string)
	return &ErrorResponse{Code: safeCode(code), Description: sanitize(Scrub(desc, secrets...), 300), URI: sanitize(Scrub(uri, secrets...), 300)}, nil
}

// isCode reports whether s uses only the characters RFC 6749 §5.2 allows
// in an error code, and is of sane length.
func isCode(s string) bool {
	if len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// safeCode returns an error code that is safe in an error string, a log
// line and a web page. RFC 6749 §5.2 allows almost any printable ASCII in
// a code, markup and spaces included; every code the RFCs register uses
// letters, digits and '_' only. Characters other than those, '.', ':'
// and '-' are replaced with '_', so registered codes are kept as sent and
// "<img src=x>" becomes "_img_src_x_".
func safeCode(code string) string {
	b := []byte(code)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func parseToken(fields map[string]any) (*Token, error) {
	t := &Token{Extra: fields}
	var err error
	if t.AccessToken, err = str(fields, "access_token", true); err != nil {
		return nil, err
	}
	if t.TokenType, err = tokenType(fields); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		dst  *string
		name string
	}{{&t.RefreshToken, "refresh_token"}, {&t.IDToken, "id_token"}} {
		if *f.dst, err = str(fields, f.name, false); err != nil {
			return nil, err
		}
	}
	if t.Scope, err = scope(fields); err != nil {
		return nil, err
	}
	if t.ExpiresIn, err = seconds(fields, "expires_in"); err != nil {
		return nil, err
	}
	for _, name := range []string{"refresh_expires_in", "refresh_token_expires_in"} {
		if t.RefreshExpiresIn != 0 {
			break
		}
		if t.RefreshExpiresIn, err = seconds(fields, name); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// str returns the string member name; absent (or null) is "" unless
// required, and any other type is an error.
func str(fields map[string]any, name string, required bool) (string, error) {
	v, ok := fields[name]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("%w: no %s", ErrMalformed, name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
	}
	if required && s == "" {
		return "", fmt.Errorf("%w: empty %s", ErrMalformed, name)
	}
	return s, nil
}

// tokenType accepts "Bearer" and "DPoP" (RFC 9449) in any case, and an
// absent token_type (which some servers omit) as Bearer's absence; any
// other type is refused, because this SDK sends no other kind of token.
// Whether a DPoP token fits the request is the caller's to check.
func tokenType(fields map[string]any) (string, error) {
	tt, err := str(fields, "token_type", false)
	if err != nil || tt == "" {
		return "", err
	}
	switch {
	case strings.EqualFold(tt, "bearer"):
		return "Bearer", nil
	case strings.EqualFold(tt, "dpop"):
		return "DPoP", nil
	}
	return "", fmt.Errorf("%w: unsupported token_type %q", ErrMalformed, sanitize(tt, 32))
}

// scope accepts the RFC's space-separated string and, leniently, a JSON
// array of strings as some servers send.
func scope(fields map[string]any) (string, error) {
	switch v := fields["scope"].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return "", fmt.Errorf("%w: scope array holds a non-string", ErrMalformed)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " "), nil
	default:
		return "", fmt.Errorf("%w: scope is not a string", ErrMalformed)
	}
}

// seconds reads a lifetime that servers send as a JSON number or a
// numeric string. Absent, null and 0 mean unknown (0). Fractions are
// truncated; negative, non-numeric and absurdly large values are refused.
func seconds(fields map[string]any, name string) (int64, error) {
	var text string
	switch v := fields[name].(type) {
	case nil:
		return 0, nil
	case json.Number:
		text = v.String()
	case string:
		text = strings.TrimSpace(v)
		if text == "" {
			return 0, nil
		}
	default:
		return 0, fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > MaxLifetime+1 || f < 0 {
			return 0, fmt.Errorf("%w: %s is not a usable number of seconds", ErrMalformed, name)
		}
		n = int64(f)
	}
	if n < 0 || n > MaxLifetime {
		return 0, fmt.Errorf("%w: %s out of range (%d)", ErrMalformed, name, n)
	}
	return n, nil
}
