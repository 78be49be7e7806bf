package transport

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// trackedBody is a request or response body that counts its Close calls and
// how much was read.
type trackedBody struct {
	r      *strings.Reader
	closed atomic.Int32
}

func newBody(s string) *trackedBody { return &trackedBody{r: strings.NewReader(s)} }

func (b *trackedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *trackedBody) Close() error               { b.closed.Add(1); return nil }

// untouched reports whether nothing was read from b and it was not closed.
func (b *trackedBody) untouched() bool { return b.closed.Load() == 0 && b.r.Len() == int(b.r.Size()) }

// response builds a response with a tracked body and an optional challenge.
func response(status int, challenge string) (*http.Response, *trackedBody) {
	body := newBody(http.StatusText(status))
	resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: body}
	if challenge != "" {
		resp.Header.Set("WWW-Authenticate", challenge)
	}
	return resp, body
}

// staticSource is a plain oauth2.TokenSource (not a Refresher).
type staticSource struct {
	tok *oauth2.Token
	err error
}

func (s staticSource) Token() (*oauth2.Token, error) { return s.tok, s.err }

// fakeRefresher is a hand-written Refresher that dedupes as the contract
// says: it refreshes only while the rejected token is still current, under a
// mutex, so concurrent calls for one rejected token make one refresh.
type fakeRefresher struct {
	mu      sync.Mutex // guards current
	current *oauth2.Token

	next      string                          // access token a refresh yields
	nextType  string                          // its type; "" means "Bearer"
	err       error                           // returned by RefreshRejected when set
	refresh   func(ctx context.Context) error // called once per refresh when set (e.g. a token endpoint)
	calls     atomic.Int32                    // RefreshRejected calls
	refreshes atomic.Int32                    // refreshes made
	ctxSeen   atomic.Value                    // last ctx given to RefreshRejected
}

func (s *fakeRefresher) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current, nil
}

func (s *fakeRefresher) RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	s.calls.Add(1)
	s.ctxSeen.Store(ctx)
	if s.err != nil {
		return nil, s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rejected.AccessToken != s.current.AccessToken {
		return s.current, nil
	}
	if s.refresh != nil {
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
	}
	s.refreshes.Add(1)
	typ := s.nextType
	if typ == "" {
		typ = "Bearer"
	}
	s.current = &oauth2.Token{AccessToken: s.next, TokenType: typ}
	return s.current, nil
}

// ctxSource has TokenContext; its Token must not be called by RoundTrip.
type ctxSource struct {
	t   *testing.T
	tok *oauth2.Token
	got atomic.Value // ctx given to TokenContext
}

func (s *ctxSource) Token() (*oauth2.Token, error) {
	s.t.Error("Token called, want TokenContext")
	return s.tok, nil
}

func (s *ctxSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.got.Store(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.tok, nil
}

var errSource = errors.New("source failed")

// sliceID identifies a header value slice by its array, length and capacity.
type sliceID struct {
	ptr      *string
	len, cap int
}

// snapshot is a deep record of a request, to prove RoundTrip left it alone.
type snapshot struct {
	shallow  http.Request // with GetBody cleared: funcs do not compare
	getBody  uintptr
	url      url.URL
	user     string
	header   http.Header
	slices   map[string]sliceID
	trailer  http.Header
	form     url.Values
	transEnc []string
}

func takeSnapshot(r *http.Request) snapshot {
	s := snapshot{
		shallow:  *r,
		header:   r.Header.Clone(),
		slices:   map[string]sliceID{},
		trailer:  r.Trailer.Clone(),
		form:     maps.Clone(r.Form),
		transEnc: slices.Clone(r.TransferEncoding),
	}
	s.shallow.GetBody = nil
	if r.GetBody != nil {
		s.getBody = reflect.ValueOf(r.GetBody).Pointer()
	}
	if r.URL != nil {
		s.url = *r.URL
		s.user = r.URL.User.String()
	}
	for k, v := range r.Header {
		id := sliceID{len: len(v), cap: cap(v)}
		if cap(v) > 0 {
			id.ptr = &v[:1][0]
		}
		s.slices[k] = id
	}
	return s
}

// checkUnchanged fails t if r differs from the snapshot s taken before.
func (s snapshot) checkUnchanged(t *testing.T, r *http.Request) {
	t.Helper()
	after := takeSnapshot(r)
	switch {
	case !reflect.DeepEqual(after.shallow, s.shallow):
		t.Errorf("request fields changed:\n got %+v\nwant %+v", after.shallow, s.shallow)
	case after.getBody != s.getBody:
		t.Error("request GetBody changed")
	case after.url != s.url || after.user != s.user:
		t.Errorf("request URL changed: got %v, want %v", &after.url, &s.url)
	case !reflect.DeepEqual(after.header, s.header):
		t.Errorf("request Header changed: got %v, want %v", after.header, s.header)
	case !reflect.DeepEqual(after.slices, s.slices):
		t.Errorf("request Header value slices replaced: got %v, want %v", after.slices, s.slices)
	case !reflect.DeepEqual(after.trailer, s.trailer) || !reflect.DeepEqual(after.form, s.form):
		t.Error("request Trailer or Form changed")
	case !slices.Equal(after.transEnc, s.transEnc):
		t.Error("request TransferEncoding changed")
	}
}

// readAll reads r or fails t.
func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}
