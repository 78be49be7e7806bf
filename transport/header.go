package transport

import (
	"net/http"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// authHeader is the Authorization header value for one token. It is
// immutable once stored in headers, and value is shared, read-only, by every
// request sent with the token.
type authHeader struct {
	tokenType, accessToken string
	value                  []string
}

// headerBits sets the number of entries of headers: 1<<headerBits.
const headerBits = 6

// headers caches the Authorization header values of the tokens last used by
// any Transport of the process, so that the hot path does not build one per
// request. It lives here rather than in Transport so that a Transport holds
// no state that changes after first use: printing or copying one (see
// [Transport.Format]) reads no field that RoundTrip writes. Each slot is read
// and written atomically; the values it points to are never modified. An
// entry is used only for the exact token type and access token it was built
// from, so slots shared by tokens of several transports can only cost a
// rebuild, never a wrong header.
var headers [1 << headerBits]atomic.Pointer[authHeader]

// authorization returns the Authorization header value for tok, from the
// cache when tok was used recently: its [oauth2.Token.Type] and access
// token, with the scheme spelled "DPoP" for a DPoP token in any letter case.
func authorization(tok *oauth2.Token) []string {
	slot := &headers[slotOf(tok.AccessToken)]
	if h := slot.Load(); h != nil && h.accessToken == tok.AccessToken && h.tokenType == tok.TokenType {
		return h.value
	}
	scheme := tok.Type()
	if isDPoP(tok) {
		scheme = dpopScheme
	}
	v := scheme + " " + tok.AccessToken
	h := &authHeader{tokenType: tok.TokenType, accessToken: tok.AccessToken, value: []string{v}}
	slot.Store(h)
	return h.value
}

// slotOf returns the slot of headers for an access token: a hash of its
// length and its last 8 bytes, which for a JWT are part of the signature and
// so differ between tokens.
func slotOf(accessToken string) uint64 {
	h := uint64(len(accessToken))
	for i := max(0, len(accessToken)-8); i < len(accessToken); i++ {
		h = h<<8 ^ uint64(accessToken[i])
	}
	return (h * 0x9E3779B97F4A7C15) >> (64 - headerBits) // Fibonacci hashing
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

// withDPoP is [withAuthorization] for a DPoP token: the new Header also
// carries proof, the DPoP header's value, and any DPoP entry of h, however
// spelled, is left out. The proof's key is "Dpop", the canonical form
// [http.Header.Get] looks up.
func withDPoP(h http.Header, auth, proof []string) http.Header {
	out := make(http.Header, len(h)+2)
	for k, v := range h {
		if isAuthorization(k) || isName(k, "dpop") {
			continue
		}
		out[k] = v[:len(v):len(v)]
	}
	out["Authorization"] = auth
	out["Dpop"] = proof
	return out
}

// isAuthorization reports whether k is "Authorization" in any letter case.
func isAuthorization(k string) bool { return isName(k, "authorization") }

// isName reports whether the header name k is name, which is made of lower
// case letters, in any letter case.
func isName(k, name string) bool {
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
