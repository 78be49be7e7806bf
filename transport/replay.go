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
// challenge carries error="invalid_token" ([RFC 6750 §3.1]). It is what
// [Transport] does when Rejected is nil, and a building block for a custom
// Rejected hook. It does not read resp.Body.
//
// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
func InvalidToken(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	b, _ := wwwauth.ParseBearer(resp.Header.Values("WWW-Authenticate"))
	return b.Error == "invalid_token"
}

// rejected reports whether resp rejected the token, so that a refresh may
// help. insufficient_scope never qualifies.
func (t *Transport) rejected(resp *http.Response) bool {
	if t.Rejected == nil {
		return InvalidToken(resp)
	}
	if !t.Rejected(resp) {
		return false
	}
	b, _ := wwwauth.ParseBearer(resp.Header.Values("WWW-Authenticate"))
	return b.Error != "insufficient_scope"
}

// replay handles resp, which rejected the token sent: if Source is a
// Refresher, the body can be replayed and the refresh gives another token,
// it discards resp and sends req again with the new token. If the refresh
// fails for good (see [Refresher]), it discards resp and returns the
// refresh's error. Otherwise it returns resp untouched.
func (t *Transport) replay(req *http.Request, resp *http.Response, sent *oauth2.Token) (*http.Response, error) {
	r, ok := t.Source.(Refresher)
	if !ok || !replayable(req) {
		return resp, nil
	}
	tok, err := r.RefreshRejected(req.Context(), sent)
	if err != nil {
		if transient(req.Context(), err) {
			return resp, nil
		}
		discard(resp)
		return nil, fmt.Errorf("transport: replace the rejected token: %w", err)
	}
	if tok == nil || tok.AccessToken == "" || tok.AccessToken == sent.AccessToken {
		return resp, nil
	}
	body, err := rewind(req)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return resp, nil
	}
	discard(resp)
	return t.send(req, body, tok)
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
