package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// Transport is an [http.RoundTripper] that adds "Authorization: Bearer <token>"
// (the token's [oauth2.Token.Type] and access token) to requests, with a token
// from Source, and sends them with Base.
//
// It never modifies the caller's request: it sends a copy that has its own
// Header map. It sends the token only where it belongs:
//
//   - over TLS: a request whose URL is not https gets [ErrInsecure] and is
//     not sent, unless it is http to a loopback host (localhost,
//     127.0.0.0/8, ::1) or AllowInsecureHTTP is set ([RFC 6750 §5.3]);
//   - to the hosts it is meant for: when Hosts or Allow is set, a request to
//     any other URL gets [ErrHostNotAllowed] and is not sent;
//   - on a redirect followed by an [http.Client], only when the hop's host
//     is the original request's and its scheme is not http after an https
//     original. Each hop is compared with the original, as net/http does for
//     the headers it guards, so a chain that leaves and comes back carries
//     the token again on return, never at the other hosts. Other hops are
//     sent without the token, whatever Hosts and Allow say; the hops that
//     carry it are checked like any request.
//
// A refused request is never sent (Base is not called) and its body is
// closed; the error names the host, never the token.
//
// A token whose [oauth2.Token.Type] is "DPoP", in any letter case, is bound
// to a key ([RFC 9449]): it is sent as "Authorization: DPoP <token>" with a
// "DPoP: <proof>" header, the proof made by Source, which must then be a
// [DPoPProver], for that send's method and URL. Every send gets a new proof:
// the first, each replay described below, and each redirect hop that
// carries the token (a hop that does not carry the token carries no proof
// either). The DPoP-Nonce header of each response to such a send is
// reported to the prover. A 401 whose DPoP challenge carries
// error="use_dpop_nonce" and that has a DPoP-Nonce header is replayed once,
// with a fresh proof that carries the nonce, if the body can be replayed;
// otherwise it is returned as it came. If Source is not a [DPoPProver], or
// makes no proof, the request is not sent: RoundTrip returns
// [ErrNoDPoPProver] or the prover's error, wrapped, and closes the body.
// Proofs, like tokens, never appear in an error.
//
// When the server rejects the token (see Rejected) and Source is a
// [Refresher], it gets a new token and replays the request once, to the same
// URL, if the body can be replayed (req.GetBody is set, or there is no body).
// A request is sent at most three times: with a DPoP token, the nonce replay
// comes first when the first answer asks for a nonce, then the refresh
// replay if the answer to that rejects the token; if the first answer
// rejected the token instead, the refresh replay comes first and the nonce
// replay follows if the server asks for a nonce then. A request gets at most
// one of each, so a server that always asks for a new nonce, or always
// rejects the token, gets its answer back, never a loop.
// If that refresh fails, RoundTrip returns the refresh's error (wrapped,
// errors.Is and errors.As see through it; the rejected response is closed)
// unless the failure is transient, in which case it returns the rejected
// response as it came; see [Refresher] for which is which. So a grant the
// provider revoked surfaces as the Source's "login required" error through
// [http.Client.Do], not as a bare 401.
//
// A Transport is safe for concurrent use by multiple goroutines if Source,
// Base, Rejected and Allow are. Set its fields before first use and do not
// change them afterwards. RoundTrip keeps no state in the Transport, so a
// Transport may be copied and printed at any time; every fmt verb, and JSON,
// prints the types of Source and Base, never their contents (see
// [Transport.Format]). The zero value has no Source: its RoundTrip fails.
//
// [RFC 6750 §5.3]: https://www.rfc-editor.org/rfc/rfc6750#section-5.3
// [RFC 9449]: https://www.rfc-editor.org/rfc/rfc9449
type Transport struct {
	// Source supplies the access token. It is required. If it also has a
	// method TokenContext(ctx context.Context) (*oauth2.Token, error),
	// that is called with the request's context instead of Token. If it
	// implements [Refresher], a rejected token is refreshed and the request
	// replayed once. If it gives DPoP tokens, it must implement
	// [DPoPProver].
	Source oauth2.TokenSource

	// Base sends the requests. nil means [http.DefaultTransport].
	Base http.RoundTripper

	// Rejected reports whether resp means the server rejected the access
	// token, so that the Source should replace it and the request be
	// replayed once. It must not read or close resp.Body. nil means
	// [InvalidToken]: a 401 whose WWW-Authenticate Bearer or DPoP challenge
	// carries error="invalid_token". Set it for providers that answer
	// expired tokens with 403, or with 401 and no challenge. Whatever it
	// says, a response whose Bearer or DPoP challenge carries
	// error="insufficient_scope", or whose DPoP challenge carries
	// error="use_dpop_nonce", never causes a refresh: a new token would not
	// have more scope, and a nonce concerns the proof, not the token.
	Rejected func(resp *http.Response) bool

	// Hosts, when not empty, lists the hosts the token may be sent to, as
	// "host" or "host:port" without a scheme: a token minted for one API
	// goes to that API only. Host names match ignoring letter case; a
	// missing port means the default port of the request's scheme, so
	// "api.example.com" matches https://api.example.com and
	// https://api.example.com:443, not https://api.example.com:8443. There
	// are no wildcards; use Allow for anything else. A request to a host
	// neither Hosts nor Allow accepts fails with [ErrHostNotAllowed] and is
	// not sent: a refusal the caller sees, rather than a request that goes
	// out without its token. nil or empty, with Allow nil, allows every
	// host.
	Hosts []string

	// Allow, when not nil, reports whether the token may be sent to u,
	// in addition to the hosts Hosts lists: a request is allowed when
	// Hosts lists its host or Allow returns true. u is a copy of the
	// request's URL; Allow must not modify it (its User is shared), and
	// its answer must depend on u only, since the check made before the
	// first send also covers a replay to the same URL. nil, with Hosts
	// empty, allows every host.
	Allow func(u *url.URL) bool

	// AllowInsecureHTTP lets the token go over plain http to any host. It
	// is for tests and trusted networks only: anyone on the path can read a
	// token sent in clear text and use it until it expires. false (the
	// default) refuses every non-https URL except http to a loopback host.
	// The redirect rule still applies: the token never follows a redirect
	// from https to http.
	AllowInsecureHTTP bool
}

// Refresher is implemented by token sources that can replace a token a
// resource server rejected (*tokensource.Source does).
//
// RefreshRejected must return a token different from rejected, refreshing
// only if rejected is still the source's current token (otherwise it returns
// the current token); concurrent calls for the same rejected token share one
// refresh. ctx is the request's context and bounds the caller's wait. It must
// be safe for concurrent use, and must not modify rejected or the token it
// returns afterwards.
//
// When RoundTrip's refresh fails, the error decides what the caller gets:
//
//   - The request's context has ended and the error is [context.Canceled]
//     or [context.DeadlineExceeded] (or wraps one): RoundTrip returns the
//     error, as net/http does for a request whose context ends.
//   - The error is transient: it, or an error it wraps (found with
//     [errors.As]), has a method Temporary() bool that returns true (as
//     tokensource's *Error does for network failures, 408, 429 and 5xx), or
//     it is a context error of the refresher's own (its timeout) while the
//     request's context is live. RoundTrip gives back the rejected response
//     as it came, as if no refresh had been tried.
//   - Any other error: RoundTrip returns it, wrapped, and closes the
//     rejected response. This is how "log in again" reaches the caller:
//     errors.Is(err, tokensource.ErrLoginRequired) holds for the error of
//     [http.Client.Do] (a [*net/url.Error] wrapping it). A closed source or
//     a malformed token response are returned the same way.
//
// A Refresher's errors must not contain a token: RoundTrip's error includes
// their text.
type Refresher interface {
	RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error)
}

// contextTokenSource is a token source whose fetch takes a context, like
// *tokensource.Source.
type contextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// RoundTrip sends req with an Authorization header carrying the access token
// from t.Source (and, for a DPoP token, a DPoP proof), as [Transport]
// describes. It returns a response or an error, never both, and closes
// req.Body on every path, as [http.RoundTripper] requires. Errors from Base
// are returned unchanged; a request the token must not go to gets an error
// matching [ErrInsecure] or [ErrHostNotAllowed] before any token is fetched.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("transport: Transport.Source is nil")
	}
	if !authorize(req) {
		return t.base().RoundTrip(req)
	}
	if err := t.permit(req.URL); err != nil {
		closeBody(req)
		return nil, err
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, req.Body, tok)
	switch {
	case err != nil:
		return nil, err
	case isDPoP(tok):
		return t.followDPoP(req, resp, tok)
	case !t.rejected(resp):
		return resp, nil
	}
	resp, _, err = t.replay(req, resp, tok)
	return resp, err
}

// CloseIdleConnections closes the idle connections of Base, if it has a
// CloseIdleConnections method, so that [http.Client.CloseIdleConnections]
// reaches it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// token gets a token from t.Source, with ctx when the source takes one.
func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	var (
		tok *oauth2.Token
		err error
	)
	if cs, ok := t.Source.(contextTokenSource); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		tok, err = t.Source.Token()
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("transport: get token: %w", err)
	case tok == nil || tok.AccessToken == "":
		return nil, errors.New("transport: Source returned no access token")
	}
	return tok, nil
}

// send sends a copy of req with body and tok's Authorization header. For a
// DPoP token the copy also carries a fresh proof, and the response's
// DPoP-Nonce is reported to the prover; if there is no proof, body is closed
// and nothing is sent.
func (t *Transport) send(req *http.Request, body io.ReadCloser, tok *oauth2.Token) (*http.Response, error) {
	var (
		header http.Header
		prover DPoPProver
	)
	if isDPoP(tok) {
		var err error
		if header, prover, err = t.proofHeader(req, tok); err != nil {
			if body != nil {
				body.Close()
			}
			return nil, err
		}
	} else {
		header = withAuthorization(req.Header, authorization(tok))
	}
	out := new(http.Request)
	*out = *req
	out.Body = body
	out.Header = header
	resp, err := t.base().RoundTrip(out)
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	case resp == nil:
		return nil, errors.New("transport: Base returned no response and no error")
	}
	if prover != nil {
		reportNonce(prover, req, resp)
	}
	return resp, nil
}

// closeBody closes req.Body, if any, as a RoundTripper must on every path.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
