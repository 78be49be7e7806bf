package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
)

// maxKeysBody caps how much of a JWKS response is read.
const maxKeysBody = 1 << 20

// keySet is go-oidc's RemoteKeySet (keys by kid, refetched when an
// unknown kid shows up) that also records, in a verifyTrace carried by
// ctx, what signature verification returned. go-oidc's verifier reports a
// signature failure with %v, losing the cause; the trace keeps it, so that
// "the JWKS is unreachable" can be told from "the signature is wrong".
type keySet struct {
	remote *oidc.RemoteKeySet
}

// verifyTrace is where keySet records its result for one verification.
type verifyTrace struct {
	payload []byte // the verified payload, nil when verification failed
	err     error  // the verification error, with its cause
}

type traceKey struct{}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if tr, ok := ctx.Value(traceKey{}).(*verifyTrace); ok {
		tr.payload, tr.err = payload, err
	}
	return payload, err
}

// keysTransport fetches the JWKS: failures to reach it, and answers other
// than 200, become a *keysFetchError, which go-oidc wraps with %w.
type keysTransport struct {
	base http.RoundTripper // nil: http.DefaultTransport
}

func (t *keysTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, &keysFetchError{err: err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &keysFetchError{status: resp.StatusCode}
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxKeysBody), resp.Body}
	return resp, nil
}

// keysFetchError says the provider's JWKS could not be fetched.
type keysFetchError struct {
	status int   // HTTP status, 0 when no response arrived
	err    error // the transport error
}

func (e *keysFetchError) Error() string {
	if e.err != nil {
		return "fetching the JWKS: " + e.err.Error()
	}
	return fmt.Sprintf("fetching the JWKS: HTTP %d", e.status)
}

func (e *keysFetchError) Unwrap() error { return e.err }
