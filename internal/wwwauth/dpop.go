package wwwauth

// DPoP holds the attributes of a DPoP challenge ([RFC 9449 §7.1]): those of
// a Bearer challenge, with the error codes of [RFC 6750 §3.1] and
// "invalid_dpop_proof" and "use_dpop_nonce" ([RFC 9449 §9]), plus the
// algorithms the server accepts. Absent attributes are "".
//
// [RFC 9449 §7.1]: https://www.rfc-editor.org/rfc/rfc9449#section-7.1
// [RFC 9449 §9]: https://www.rfc-editor.org/rfc/rfc9449#section-9
// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
type DPoP struct {
	Bearer
	// Algs is the space-delimited list of the JWS algorithms the server
	// accepts in DPoP proofs.
	Algs string
}

// ParseDPoP returns the attributes of the first DPoP challenge in the
// WWW-Authenticate header values, and whether there was one. Other schemes
// are skipped; see [Parse] for how malformed values are handled.
func ParseDPoP(values []string) (DPoP, bool) {
	c, ok := first(values, "DPoP")
	if !ok {
		return DPoP{}, false
	}
	return DPoP{Bearer: bearerOf(c), Algs: c.Params["algs"]}, true
}
