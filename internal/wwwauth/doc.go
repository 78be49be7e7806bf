// Package wwwauth parses WWW-Authenticate header values: the challenges of
// [RFC 7235 §4.1], the Bearer challenge attributes of [RFC 6750 §3] and the
// DPoP challenge attributes of [RFC 9449 §7.1].
//
// The parser is strict and allocation-light: tokens and quoted strings without
// escapes are substrings of the input, and only a challenge with parameters
// allocates (its Params map). Malformed input never panics; [Parse] returns
// the challenges that parsed cleanly before the first error in each header
// value and goes on with the next value.
//
// [RFC 7235 §4.1]: https://www.rfc-editor.org/rfc/rfc7235#section-4.1
// [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
// [RFC 9449 §7.1]: https://www.rfc-editor.org/rfc/rfc9449#section-7.1
package wwwauth
