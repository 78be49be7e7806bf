package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// Transport is an [http.RoundTripper] that adds "Authorization: Bearer <token>"
// (the token's [oauth2.Token.Type] and access token) to requests, with a token
// from Source, and sends them with Base.
//
// It never modifies the caller's request: it sends a copy that has its own
// Header map. On a redirect followed by an [http.Client] it adds the token
// only when the host is the original request's and the scheme does not go
// from https to http (the original, as net/http does for the headers it
// guards: a chain that leaves and comes back carries the token again on
// return, never at the other hosts). When the server rejects the token (see Rejected) and
// Source is a [Refresher], it gets a new token and replays the request once,
// if the body can be replayed.
//
// A Transport is safe for concurrent use by multiple goroutines if Source and
// Base are. Set its fields before first use and do not change or copy it
// afterwards. The zero value has no Source: its RoundTrip fails.
type Transport struct {
	// Source supplies the access token. It is required. If it also has a
	// method TokenContext(ctx context.Context) (*oauth2.Token, error),
	// that is called with the request's context instead of Token. If it
	// implements [Refresher], a rejected token is refreshed and the request
	// replayed once.
	Source oauth2.TokenSource

	// Base sends the requests. nil means [http.DefaultTransport].
	Base http.RoundTripper

	// Rejected reports whether resp means the server rejected the access
	// token, so that the Source should replace it and the request be
	// replayed once. It must not read or close resp.Body. nil means
	// [InvalidToken]: a 401 whose WWW-Authenticate Bearer challenge carries
	// error="invalid_token". Set it for providers that answer expired tokens
	// with 403, or with 401 and no challenge. Whatever it says, a response
	// whose Bearer challenge carries error="insufficient_scope" never
	// causes a refresh: a new token would not have more scope.
	Rejected func(resp *http.Response) bool

	// cache holds the Authorization header value of the last token used,
	// so that the hot path does not build it again. Read and written
	// atomically; the value it points to is never modified.
	cache atomic.Pointer[authHeader]
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
type Refresher interface {
	RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error)
}

// contextTokenSource is a token source whose fetch takes a context, like
// *tokensource.Source.
type contextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// RoundTrip sends req with an Authorization header carrying the access token
// from t.Source, as [Transport] describes. It returns a response or an error,
// never both, and closes req.Body on every path, as [http.RoundTripper]
// requires. Errors from Base are returned unchanged.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("transport: Transport.Source is nil")
	}
	if !authorize(req) {
		return t.base().RoundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, req.Body, tok)
	if err != nil || !t.rejected(resp) {
		return resp, err
	}
	return t.replay(req, resp, tok)
}

// CloseIdleConnections closes the idle connections of Base, if it has a
// CloseIdleConnections method, so that [http.Client.CloseIdleConnections]
// reaches it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Format prints t for every verb as the types of its fields, never their
// contents: a Source may hold a token, and %v must not reveal it.
func (t *Transport) Format(f fmt.State, verb rune) {
	if t == nil {
		io.WriteString(f, "<nil>")
		return
	}
	fmt.Fprintf(f, "&transport.Transport{Source:%T Base:%T Rejected:%t}", t.Source, t.Base, t.Rejected != nil)
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

// send sends a copy of req with body and tok's Authorization header.
func (t *Transport) send(req *http.Request, body io.ReadCloser, tok *oauth2.Token) (*http.Response, error) {
	out := new(http.Request)
	*out = *req
	out.Body = body
	out.Header = withAuthorization(req.Header, t.authorization(tok))
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
	return resp, nil
}

// closeBody closes req.Body, if any, as a RoundTripper must on every path.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
