package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/wwwauth"
)

// maxDrain bounds how much of a rejected response's body is read so that its
// connection can be reused.
const maxDrain = 4 << 10

// InvalidToken reports whether resp is a 401 whose WWW-Authenticate Bearer
// or DPoP challenge carries error="invalid_token" ([RFC 6750 §3.1],
// [RFC 9449 §7.1]; the first challenge of each scheme counts). It is what
// [Transport] does when Rejected is nil, and a building block for a custom
// Rejected hook. It does not read resp.Body.
//
// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
// [RFC 9449 §7.1]: https://www.rfc-editor.org/rfc/rfc9449#section-7.1
func InvalidToken(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	b, d := challengeErrors(resp)
	return b == "invalid_token" || d == "invalid_token"
}

// challengeErrors returns the error codes of the first Bearer and the first
// DPoP challenge of resp, "" where there is none.
func challengeErrors(resp *http.Response) (bearer, dpop string) {
	v := resp.Header.Values("WWW-Authenticate")
	b, _ := wwwauth.ParseBearer(v)
	d, _ := wwwauth.ParseDPoP(v)
	return b.Error, d.Error
}

// rejected reports whether resp rejected the token, so that a refresh may
// help: what Rejected (or [InvalidToken]) says, except that a Bearer or DPoP
// challenge with error="insufficient_scope", or a DPoP challenge with
// error="use_dpop_nonce", never qualifies: a new token would not have more
// scope, and a nonce is a matter of the proof, not of the token.
func (t *Transport) rejected(resp *http.Response) bool {
	if t.Rejected == nil {
		if resp.StatusCode != http.StatusUnauthorized {
			return false
		}
	} else if !t.Rejected(resp) {
		return false
	}
	b, d := challengeErrors(resp)
	switch {
	case b == "insufficient_scope" || d == "insufficient_scope" || d == "use_dpop_nonce":
		return false
	case t.Rejected != nil:
		return true
	}
	return b == "invalid_token" || d == "invalid_token"
}

// replay handles resp, which rejected the token sent: if Source is a
// Refresher, the body can be replayed and the refresh gives another token,
// it discards resp and sends req again with the new token, which it returns
// as next. If the refresh fails for good (see [Refresher]), it discards resp
// and returns the refresh's error. Otherwise it returns resp untouched and a
// nil next.
func (t *Transport) replay(req *http.Request, resp *http.Response, sent *oauth2.Token) (_ *http.Response, next *oauth2.Token, _ error) {
	r, ok := t.Source.(Refresher)
	if !ok || !replayable(req) {
		return resp, nil, nil
	}
	tok, err := r.RefreshRejected(req.Context(), sent)
	if err != nil {
		if transient(req.Context(), err) {
			return resp, nil, nil
		}
		discard(resp)
		return nil, nil, fmt.Errorf("transport: replace the rejected token: %w", err)
	}
	if tok == nil || tok.AccessToken == "" || tok.AccessToken == sent.AccessToken {
		return resp, nil, nil
	}
	resp, resent, err := t.resend(req, resp, tok)
	if !resent {
		return resp, nil, err
	}
	return resp, tok, err
}

// resend discards resp and sends req again with tok (for a DPoP token, with a
// fresh proof) when its body can be replayed, and reports whether it did.
// Otherwise it returns resp untouched.
func (t *Transport) resend(req *http.Request, resp *http.Response, tok *oauth2.Token) (*http.Response, bool, error) {
	if !replayable(req) {
		return resp, false, nil
	}
	body, err := rewind(req)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return resp, false, nil
	}
	discard(resp)
	resp, err = t.send(req, body, tok)
	return resp, true, err
}

// transient reports whether err, a failed refresh for a request whose
// context is reqCtx, may go away: the same refresh may succeed later. A context error while reqCtx has
// ended is the request's own: not transient, whatever its Temporary says.
// Otherwise err is transient if it or an error it wraps says Temporary, or
// it is a context error (the refresher's own timeout or cancellation).
func transient(reqCtx context.Context, err error) bool {
	ctxErr := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if ctxErr && reqCtx.Err() != nil {
		return false
	}
	var temp interface{ Temporary() bool }
	return errors.As(err, &temp) && temp.Temporary() || ctxErr
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns a fresh copy of req's body for a replay.
func rewind(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	return req.GetBody()
}

// discard drains a bounded part of resp's body, so that the connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}
