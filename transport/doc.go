// Package transport provides [Transport], a [net/http.RoundTripper] that
// authorizes requests with an OAuth 2.0 access token as [RFC 6750] describes:
// "Authorization: Bearer <token>".
//
// Compared with [golang.org/x/oauth2.Transport], it never sends the token
// over a redirect to another host or from https to http, refreshes and
// replays a request once when the resource server rejects the token (when the
// token source is a [Refresher] and the body can be replayed), passes the
// request's context to sources that take one, and copies less per request.
//
// A Transport is safe for concurrent use by multiple goroutines if its Source
// and Base are. Its zero Base means [net/http.DefaultTransport] and its zero
// Rejected means [InvalidToken]; Source is required.
//
// The package knows token sources only through [golang.org/x/oauth2.TokenSource]
// and [Refresher]; a *tokensource.Source implements both.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
package transport
