package transport

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/wwwauth"
)

// DPoPProver makes the DPoP proofs ([RFC 9449]) of requests that carry a
// DPoP-bound token, and remembers the nonces servers hand out for them.
// A *tokensource.Source implements it. [Transport] uses it when Source
// returns a token whose Type is "DPoP" (in any letter case).
//
// Implementations must be safe for concurrent use by multiple goroutines.
// Neither method may modify u (its User is shared with the request) or tok.
//
// DPoPProof returns the proof JWT for one request: method (never "") and u
// are the request's; tok is the token it carries, whose hash goes into the
// proof's ath claim. Every call returns a new proof (a unique jti), with the
// nonce last reported for u's origin, if any. A proof lets whoever holds it
// use the token for that method and URL: it is secret-equivalent, and the
// Transport never logs it or puts it in an error. An error means the request
// is not sent; the error must not contain a proof, a token or a key, since
// RoundTrip's error includes its text.
//
// DPoPNonce reports the DPoP-Nonce header of a response to a request to u
// that carried a DPoP token, so that the next proofs for u's origin carry it
// ([RFC 9449 §8], [RFC 9449 §9]).
//
// [RFC 9449]: https://www.rfc-editor.org/rfc/rfc9449
// [RFC 9449 §8]: https://www.rfc-editor.org/rfc/rfc9449#section-8
// [RFC 9449 §9]: https://www.rfc-editor.org/rfc/rfc9449#section-9
type DPoPProver interface {
	DPoPProof(method string, u *url.URL, tok *oauth2.Token) (string, error)
	DPoPNonce(u *url.URL, nonce string)
}

// ErrNoDPoPProver matches, with errors.Is, the error RoundTrip returns
// instead of sending a request when Source returned a DPoP token but does not
// implement [DPoPProver]: a DPoP-bound token without its proof would be
// refused by the server, and sending it would only expose it.
var ErrNoDPoPProver = errors.New("transport: the token is DPoP-bound but Source makes no DPoP proofs")

// dpopScheme is the Authorization scheme of a DPoP token ([RFC 9449 §7.1]).
//
// [RFC 9449 §7.1]: https://www.rfc-editor.org/rfc/rfc9449#section-7.1
const dpopScheme = "DPoP"

// isDPoP reports whether tok is a DPoP token: its type is "DPoP" in any
// letter case. It costs a Bearer token one length comparison.
func isDPoP(tok *oauth2.Token) bool {
	return len(tok.TokenType) == len(dpopScheme) && strings.EqualFold(tok.TokenType, dpopScheme)
}

// proofHeader returns a new Header for a copy of req that carries tok's
// Authorization value and a fresh DPoP proof made for req's method and URL,
// and the prover that made it; or an error, and then req must not be sent.
func (t *Transport) proofHeader(req *http.Request, tok *oauth2.Token) (http.Header, DPoPProver, error) {
	p, ok := t.Source.(DPoPProver)
	if !ok {
		return nil, nil, fmt.Errorf("%w (Source is %T)", ErrNoDPoPProver, t.Source)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	// One allocation for the URL the prover gets, a copy so that the
	// caller's is safe if the prover writes into it, and the header value.
	sc := &struct {
		u     url.URL
		proof [1]string
	}{u: *req.URL}
	proof, err := p.DPoPProof(method, &sc.u, tok)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("transport: make the DPoP proof: %w", err)
	case proof == "":
		return nil, nil, errors.New("transport: make the DPoP proof: the prover returned none")
	}
	sc.proof[0] = proof
	return withDPoP(req.Header, authorization(tok), sc.proof[:]), p, nil
}

// nonceHeader is the canonical key of the DPoP-Nonce header, as net/http
// stores it in a response's Header: looked up as is, it costs no allocation.
const nonceHeader = "Dpop-Nonce"

// reportNonce reports resp's DPoP-Nonce header, if any, to p for req's URL.
func reportNonce(p DPoPProver, req *http.Request, resp *http.Response) {
	if v := resp.Header[nonceHeader]; len(v) > 0 && v[0] != "" {
		u := *req.URL
		p.DPoPNonce(&u, v[0])
	}
}

// wantsNonce reports whether resp asks for a proof with the nonce it carries:
// a 401 with a DPoP challenge whose error is "use_dpop_nonce" and a
// DPoP-Nonce header ([RFC 9449 §9]).
//
// [RFC 9449 §9]: https://www.rfc-editor.org/rfc/rfc9449#section-9
func wantsNonce(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Header[nonceHeader]) == 0 || resp.Header[nonceHeader][0] == "" {
		return false
	}
	d, _ := wwwauth.ParseDPoP(resp.Header.Values("WWW-Authenticate"))
	return d.Error == "use_dpop_nonce"
}

// followDPoP handles resp, the answer to the first send of req with the DPoP
// token tok. It replays req at most twice: once with a fresh proof when resp
// asks for a nonce, and once after a refresh when the answer then rejects the
// token; a nonce asked for after the refresh gets the one nonce retry if the
// first answer did not take it. Each replay needs a body that can be
// replayed.
func (t *Transport) followDPoP(req *http.Request, resp *http.Response, tok *oauth2.Token) (*http.Response, error) {
	nonced := wantsNonce(resp)
	if nonced {
		var err error
		if resp, _, err = t.resend(req, resp, tok); err != nil {
			return nil, err
		}
	}
	if !t.rejected(resp) {
		return resp, nil
	}
	resp, next, err := t.replay(req, resp, tok)
	if err != nil || nonced || next == nil || !isDPoP(next) || !wantsNonce(resp) {
		return resp, err
	}
	resp, _, err = t.resend(req, resp, next)
	return resp, err
}
