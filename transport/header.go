package transport

import (
	"net/http"

	"golang.org/x/oauth2"
)

// authHeader is the Authorization header value for one token. It is
// immutable once stored in [Transport.cache], and value is shared, read-only,
// by every request sent with the token.
type authHeader struct {
	tokenType, accessToken string
	value                  []string
}

// authorization returns the Authorization header value for tok, from the
// cache when tok is the token last used.
func (t *Transport) authorization(tok *oauth2.Token) []string {
	if h := t.cache.Load(); h != nil && h.accessToken == tok.AccessToken && h.tokenType == tok.TokenType {
		return h.value
	}
	v := tok.Type() + " " + tok.AccessToken
	h := &authHeader{tokenType: tok.TokenType, accessToken: tok.AccessToken, value: []string{v}}
	t.cache.Store(h)
	return h.value
}

// withAuthorization returns a new Header with the entries of h and the
// Authorization value auth. The value slices are shared with h but capped, so
// that an append by a later RoundTripper reallocates instead of writing into
// the caller's arrays. Any Authorization entry of h, however spelled, is left
// out.
func withAuthorization(h http.Header, auth []string) http.Header {
	out := make(http.Header, len(h)+1)
	for k, v := range h {
		if isAuthorization(k) {
			continue
		}
		out[k] = v[:len(v):len(v)]
	}
	out["Authorization"] = auth
	return out
}

// isAuthorization reports whether k is "Authorization" in any letter case.
func isAuthorization(k string) bool {
	const name = "authorization"
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i]|0x20 != name[i] {
			return false
		}
	}
	return true
}
