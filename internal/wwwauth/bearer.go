package wwwauth

import "strings"

// Bearer holds the attributes of a Bearer challenge ([RFC 6750 §3]).
// Absent attributes are "".
//
// [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
type Bearer struct {
	Realm string
	// Scope is the space-delimited list of scopes the resource needs.
	Scope string
	// Error is the error code: "invalid_request", "invalid_token" or
	// "insufficient_scope" ([RFC 6750 §3.1]).
	//
	// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
	Error            string
	ErrorDescription string
	ErrorURI         string
}

// ParseBearer returns the attributes of the first Bearer challenge in the
// WWW-Authenticate header values, and whether there was one. Other schemes
// are skipped; see [Parse] for how malformed values are handled.
func ParseBearer(values []string) (Bearer, bool) {
	c, ok := first(values, "Bearer")
	if !ok {
		return Bearer{}, false
	}
	return bearerOf(c), true
}

// first returns the first challenge of the values whose scheme is scheme,
// ignoring letter case.
func first(values []string, scheme string) (Challenge, bool) {
	for _, c := range Parse(values) {
		if strings.EqualFold(c.Scheme, scheme) {
			return c, true
		}
	}
	return Challenge{}, false
}

// bearerOf returns the RFC 6750 attributes of c.
func bearerOf(c Challenge) Bearer {
	return Bearer{
		Realm:            c.Params["realm"],
		Scope:            c.Params["scope"],
		Error:            c.Params["error"],
		ErrorDescription: c.Params["error_description"],
		ErrorURI:         c.Params["error_uri"],
	}
}
