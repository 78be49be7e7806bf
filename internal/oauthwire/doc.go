// Package oauthwire parses what OAuth 2.0 token endpoints send back: the
// successful token response of RFC 6749 §5.1 and the error response of
// §5.2, strictly enough that a malformed or ambiguous answer can never be
// taken for a token. It does no I/O; callers read the body (at most
// [MaxBody] bytes) and hand it over.
package oauthwire
