package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxKeysBody caps how much of a JWKS response is read.
const maxKeysBody = 1 << 20

// KeyRefetchInterval is the least time between two fetches of the
// provider's JWKS caused by an ID token whose kid is not in the cached
// set (OpenID Connect Core §10.1.1: a new kid means the provider rotated
// its keys). In between, such tokens fail at once with [ErrUnknownKeyID]:
// a stream of tokens with made-up kids cannot make the client hammer the
// provider.
const KeyRefetchInterval = 5 * time.Second

// keySet is the provider's JWK set (an oidc.KeySet): keys by kid, fetched
// on first use and again when a token names an unknown kid, at most once
// per KeyRefetchInterval. A token without a kid is verified only when
// exactly one key is usable for its algorithm. It also records, in a
// verifyTrace carried by ctx, what signature verification returned:
// go-oidc's verifier reports a signature failure with %v, losing the
// cause; the trace keeps it, so that "the JWKS is unreachable" can be
// told from "the signature is wrong".
type keySet struct {
	url  string
	hc   *http.Client
	algs []jose.SignatureAlgorithm
	now  func() time.Time

	// onFetch, when not nil, receives every JWK set fetched successfully
	// (to cache it beside the discovery document). Set before first use.
	onFetch func(ctx context.Context, body []byte)

	sem         chan struct{} // one fetch at a time; waiting honours ctx
	mu          sync.Mutex    // guards the fields below
	keys        []jose.JSONWebKey
	fetched     bool      // keys were fetched successfully at least once
	lastRefetch time.Time // the last fetch caused by an unknown kid
	gen         uint64    // bumped by every successful fetch
	busy        bool      // a fetch is in flight
}

// newKeySet returns the key set at url, fetched with hc's transport and
// timeout; only redirects to the same origin are followed.
func newKeySet(url string, hc *http.Client, algs []string, now func() time.Time) *keySet {
	ks := &keySet{
		url: url,
		hc: &http.Client{
			Transport:     &keysTransport{base: hc.Transport},
			Timeout:       hc.Timeout,
			CheckRedirect: sameOriginRedirect(hc.CheckRedirect),
		},
		now: now,
		sem: make(chan struct{}, 1),
	}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// verifyTrace is where keySet records its result for one verification.
type verifyTrace struct {
	payload []byte // the verified payload, nil when verification failed
	err     error  // the verification error, with its cause
}

type traceKey struct{}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.verify(ctx, jwt)
	if tr, ok := ctx.Value(traceKey{}).(*verifyTrace); ok {
		tr.payload, tr.err = payload, err
	}
	return payload, err
}

func (k *keySet) verify(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, k.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed JWT: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the JWT does not have exactly one signature")
	}
	h := jws.Signatures[0].Header
	key, err := k.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	return jws.Verify(key)
}

// key returns the key for kid and alg, fetching the set when needed: on
// first use, and for an unknown kid once per KeyRefetchInterval. A
// verification that arrives while a fetch is in flight waits for it.
func (k *keySet) key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	key, err := pick(k.keys, kid, alg)
	gen, due, busy := k.gen, k.due(), k.busy
	k.mu.Unlock()
	switch {
	case key != nil || errors.Is(err, ErrMissingKeyID):
		return key, err
	case !due && !busy:
		return nil, k.tooSoon(kid)
	}
	if err := k.refresh(ctx, gen, kid); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return pick(k.keys, kid, alg)
}

// due reports whether the set may be fetched: it never was, or the last
// fetch for an unknown kid is KeyRefetchInterval old. k.mu is held.
func (k *keySet) due() bool {
	return !k.fetched || k.now().Sub(k.lastRefetch) >= KeyRefetchInterval
}

func (k *keySet) tooSoon(kid string) error {
	return kindf(ErrUnknownKeyID, "kid %q: the JWKS was refetched less than %s ago", sanitizeKID(kid), KeyRefetchInterval)
}

// refresh fetches the set, one fetch at a time, unless a fetch that
// succeeded since gen was read already did, or it is not due.
func (k *keySet) refresh(ctx context.Context, gen uint64, kid string) error {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	k.mu.Lock()
	k.busy = true
	defer func() {
		k.mu.Lock()
		k.busy = false
		k.mu.Unlock()
		<-k.sem
	}()
	switch {
	case k.gen != gen:
		k.mu.Unlock()
		return nil // the fetch we waited for got the new set
	case !k.due():
		k.mu.Unlock()
		return k.tooSoon(kid)
	case k.fetched:
		k.lastRefetch = k.now()
	}
	k.mu.Unlock()
	keys, err := k.fetch(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.fetched = keys, true
	k.gen++
	k.mu.Unlock()
	return nil
}

// pick returns the key for kid and alg: the key with that kid, usable for
// alg, or, for a token without a kid, the only key usable for alg.
func pick(keys []jose.JSONWebKey, kid, alg string) (*jose.JSONWebKey, error) {
	var found []*jose.JSONWebKey
	for i := range keys {
		if (kid == "" || keys[i].KeyID == kid) && usable(&keys[i], alg) {
			found = append(found, &keys[i])
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1 && kid == "":
		return nil, kindf(ErrMissingKeyID, "the ID token has no kid and the JWKS has %d keys for %s", len(found), alg)
	case len(found) > 1:
		return nil, kindf(ErrInvalidIDToken, "the JWKS has %d keys with kid %q", len(found), sanitizeKID(kid))
	}
	return nil, kindf(ErrUnknownKeyID, "no key with kid %q for %s in the JWKS", sanitizeKID(kid), alg)
}

// usable reports whether key may verify a signature made with alg: a
// public signing key of the algorithm's type whose alg, if set, is alg.
func usable(key *jose.JSONWebKey, alg string) bool {
	if (key.Use != "" && key.Use != "sig") || (key.Algorithm != "" && key.Algorithm != alg) {
		return false
	}
	switch key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// sanitizeKID makes a kid from a token safe to print.
func sanitizeKID(kid string) string {
	if len(kid) > 64 {
		kid = kid[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' || r > 0x7e {
			return -1
		}
		return r
	}, kid)
}

// fetch GETs the JWK set. Keys of types go-jose does not know are
// skipped (RFC 7517 §5).
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, &keysFetchError{err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.hc.Do(req)
	if err != nil {
		var ke *keysFetchError
		if errors.As(err, &ke) {
			return nil, ke
		}
		return nil, &keysFetchError{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &keysFetchError{err: err}
	}
	keys, err := parseKeys(body)
	if err == nil && k.onFetch != nil {
		k.onFetch(ctx, body)
	}
	return keys, err
}

// preload sets the keys from a JWK set cached earlier, as if fetched: no
// fetch is made until a token names a kid it lacks.
func (k *keySet) preload(body []byte) error {
	keys, err := parseKeys(body)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.fetched = keys, true
	k.gen++
	return nil
}

// parseKeys decodes a JWK set, skipping keys of types go-jose does not
// know and private keys.
func parseKeys(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, &keysFetchError{err: fmt.Errorf("decoding the JWKS: %w", err)}
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) == nil && key.Valid() && key.IsPublic() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// keysTransport fetches the JWKS: failures to reach it, and answers other
// than 200, become a *keysFetchError; the body is capped at maxKeysBody
// (a longer one fails to decode).
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
	if resp.StatusCode != http.StatusOK && (resp.StatusCode < 300 || resp.StatusCode > 399) {
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
