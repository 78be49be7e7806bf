// Package transport provides [Transport], a [net/http.RoundTripper] that
// authorizes requests with an OAuth 2.0 access token as [RFC 6750] describes:
// "Authorization: Bearer <token>"; or, for a token bound to a key with DPoP
// ([RFC 9449]), "Authorization: DPoP <token>" and a DPoP header holding a
// proof made for that one request by the Source, a [DPoPProver].
//
// Compared with [golang.org/x/oauth2.Transport], it sends the token only
// where it belongs, refreshes and replays a request once when the resource
// server rejects the token, tells the caller when the account must log in
// again, passes the request's context to sources that take one, and copies
// less per request:
//
//   - TLS only ([RFC 6750 §5.3]): a request whose URL is not https is
//     refused with [ErrInsecure], unless it is http to a loopback host
//     (localhost, 127.0.0.0/8, ::1) or [Transport.AllowInsecureHTTP] is set
//     (for tests and trusted networks).
//   - Allow-list: with [Transport.Hosts] or [Transport.Allow] set, a request
//     to any other host is refused with [ErrHostNotAllowed]; a token minted
//     for one API goes to that API only.
//   - Redirects: the token follows a redirect only to the original host and
//     never from https to http; other hops are sent without it. Hops that
//     carry it are checked like any request.
//   - Rejection: a 401 whose Bearer or DPoP challenge says error="invalid_token"
//     (or what [Transport.Rejected] says) makes a source that is a
//     [Refresher] replace the token, and the request is replayed once to the
//     same URL when its body can be replayed. If the refresh fails for good
//     the caller gets the refresh's error (so errors.Is(err,
//     tokensource.ErrLoginRequired) holds for the error of
//     [net/http.Client.Do]); if it fails transiently the caller gets the
//     401. [Refresher] says which is which.
//   - DPoP: a token whose type is "DPoP" gets a new proof on every send,
//     replays and redirect hops included (a proof is for one request);
//     every DPoP-Nonce a server answers with is reported to the prover for
//     the next proofs; a 401 whose DPoP challenge says
//     error="use_dpop_nonce" is replayed once with a fresh proof that
//     carries the nonce. A Source that gives DPoP tokens but is no
//     [DPoPProver] gets [ErrNoDPoPProver], and nothing is sent. The rules
//     above apply unchanged: the proof goes only where the token goes.
//
// A refused request is never sent and its body is closed; the error names the
// host, never the token. RoundTrip never modifies the caller's request and
// returns a response or an error, never both.
//
// A Transport is safe for concurrent use by multiple goroutines if its
// Source, Base, Rejected and Allow are. It keeps no state of its own, so it
// may be copied and printed at any time; fmt and JSON print the types of its
// Source and Base, never their contents. Its zero Base means
// [net/http.DefaultTransport], its zero Rejected means [InvalidToken], and
// zero Hosts and Allow allow every host; Source is required.
//
// The package knows token sources only through [golang.org/x/oauth2.TokenSource],
// [Refresher] and [DPoPProver]; a *tokensource.Source implements all three.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
// [RFC 9449]: https://www.rfc-editor.org/rfc/rfc9449
// [RFC 6750 §5.3]: https://www.rfc-editor.org/rfc/rfc6750#section-5.3
package transport
