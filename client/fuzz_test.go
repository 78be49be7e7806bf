package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// Placeholders in FuzzCallback's request targets, replaced by the values of
// the login being answered, so that the fuzzer can build valid callbacks
// around the random state.
const (
	fuzzStateMark  = "{state}"
	fuzzIssuerMark = "{iss}"
	fuzzIssuer     = "https://op.example"
	fuzzRedirect   = "http://127.0.0.1:1/callback"
)

// FuzzCallback feeds raw HTTP requests (method and request-target) to the
// loopback listener's handler while a native login waits for them, as
// Login does: serveHTTP hands each authorization response to awaitCallback,
// which checks it (completeCallback) and redeems the code at an in-memory
// token endpoint that refuses every code and echoes what it got. It
// asserts that:
//
//   - nothing panics, and only GET /callback with state, code or error and
//     the listener's Host is handed to the login (another Host, as an
//     absolute request-target sets it, gets a 421);
//   - a response with a missing or wrong state leaves the login waiting;
//     every other response ends it;
//   - a code is redeemed, with the login's PKCE verifier and redirect URI,
//     exactly when the response has one state equal to the login's, a
//     correct iss (RFC 9207), no error and one non-empty code; a refused
//     response fails with the matching sentinel (ErrStateMismatch,
//     ErrIssuerMismatch, *CallbackError);
//   - the page shown never holds markup from the input: every '<' starts a
//     tag of the page template, and there are no control characters;
//   - error strings hold no control or formatting characters, none of the
//     login's secrets (state, nonce, verifier), and stay short.
func FuzzCallback(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.method, s.target, s.issParam)
	}
	logins := map[bool]*fuzzLogin{false: newFuzzLogin(f, false), true: newFuzzLogin(f, true)}
	allowed := pageTags()
	f.Fuzz(func(t *testing.T, method, target string, issParam bool) {
		logins[issParam].run(t, method, target, allowed)
	})
}

// fuzzLogin is a Client with an Issuer, served by fuzzRT, and the account
// whose native login FuzzCallback answers.
type fuzzLogin struct {
	a  *Account
	rt *fuzzRT
}

func newFuzzLogin(f *testing.F, issParam bool) *fuzzLogin {
	rt := &fuzzRT{issParam: issParam}
	c, err := New(context.Background(), Config{
		Issuer:     fuzzIssuer,
		ClientID:   "fuzz-client",
		AuthStyle:  oauth2.AuthStyleInParams,
		HTTPClient: &http.Client{Transport: rt},
	})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	f.Cleanup(func() {
		if err := c.Close(); err != nil {
			f.Errorf("Close: %v", err)
		}
	})
	a, err := c.Account("")
	if err != nil {
		f.Fatalf("Account: %v", err)
	}
	return &fuzzLogin{a: a, rt: rt}
}

// run answers a fresh login with the request "method target" and checks
// the outcome.
func (l *fuzzLogin) run(t *testing.T, method, target string, allowed []string) {
	req, err := l.a.newAuthRequest(fuzzRedirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	target = strings.ReplaceAll(target, fuzzStateMark, req.State)
	target = strings.ReplaceAll(target, fuzzIssuerMark, fuzzIssuer)
	hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")))
	if err != nil {
		return // net/http answers 400 itself; the handler never sees it
	}
	l.rt.take() // forget exchanges of earlier runs

	srv := &loopback{redirectURI: fuzzRedirect, callbacks: make(chan callback), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	relay := newCallbackRelay(ctx, srv)
	result := make(chan error, 1)
	go func() { result <- l.a.awaitCallback(ctx, relay.inner, req, nil) }()
	rec := httptest.NewRecorder()
	srv.serveHTTP(rec, hr)
	cancel()
	loginErr := <-result
	close(srv.done)
	handed, shown := relay.result()

	q := hr.URL.Query()
	isCallback := fuzzHostOK(hr.Host) && hr.URL.Path == callbackPath && hr.Method == http.MethodGet && (q.Has("state") || q.Has("code") || q.Has("error"))
	if handed != isCallback {
		t.Fatalf("%s %q (Host %q): handed to the login: got %t, want %t (login error %v)", method, target, hr.Host, handed, isCallback, loginErr)
	}
	exchanged := l.rt.take()
	if isCallback {
		l.checkOutcome(t, q, req, shown, exchanged)
		// A wrong state must not end the login; anything else ends it.
		kept := errors.Is(loginErr, context.Canceled)
		if wantKept := errors.Is(shown, ErrStateMismatch); kept != wantKept {
			t.Fatalf("response %v: login kept waiting: got %t, want %t (login error %v)", q, kept, wantKept, loginErr)
		}
	} else if len(exchanged) != 0 {
		t.Fatalf("%s %q: a code was redeemed although the request was not handed to the login", method, target)
	}
	if !fuzzHostOK(hr.Host) && rec.Code != http.StatusMisdirectedRequest {
		t.Fatalf("Host %q: got status %d, want 421", hr.Host, rec.Code)
	}
	checkPage(t, rec, allowed)
}

// fuzzHostOK is the loopback listener's Host rule for fuzzRedirect,
// written independently of hostAllowed.
func fuzzHostOK(host string) bool {
	return strings.EqualFold(host, "127.0.0.1:1") || strings.EqualFold(host, "localhost:1")
}

// callbackRelay passes the callbacks of a listener to a login through
// another loopback value, recording whether one was handed over and the
// outcome the login answered it with.
type callbackRelay struct {
	inner *loopback
	mu    sync.Mutex
	n     int
	err   error
}

func newCallbackRelay(ctx context.Context, outer *loopback) *callbackRelay {
	r := &callbackRelay{inner: &loopback{callbacks: make(chan callback)}}
	go func() {
		for {
			select {
			case cb := <-outer.callbacks:
				fwd := callback{query: cb.query, reply: make(chan error, 1)}
				var err error
				select {
				case r.inner.callbacks <- fwd:
					err = <-fwd.reply
				case <-ctx.Done():
					err = ctx.Err()
				}
				r.mu.Lock()
				r.n, r.err = r.n+1, err
				r.mu.Unlock()
				cb.reply <- err
			case <-ctx.Done():
				return
			}
		}
	}()
	return r
}

// result reports whether a callback was handed to the login and the
// outcome of the last one.
func (r *callbackRelay) result() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n > 0, r.err
}

// checkOutcome checks what the login did with the authorization response q.
func (l *fuzzLogin) checkOutcome(t *testing.T, q url.Values, req *AuthRequest, err error, exchanged []url.Values) {
	want := wantCallbackOutcome(q, req.State, l.rt.issParam)
	switch {
	case want == nil:
		if len(exchanged) != 1 {
			t.Fatalf("valid response %v: got %d code exchanges, want 1 (error %v)", q, len(exchanged), err)
		}
		got := exchanged[0]
		if got.Get("code") != q.Get("code") || got.Get("code_verifier") != req.Verifier || got.Get("redirect_uri") != req.RedirectURI || got.Get("grant_type") != "authorization_code" {
			t.Fatalf("code exchange: got %v, want the callback's code with the login's verifier and redirect URI", got)
		}
		var te *tokensource.Error
		if !errors.As(err, &te) || te.Code != "invalid_grant" {
			t.Fatalf("got %v, want the token endpoint's refusal", err)
		}
	case len(exchanged) != 0:
		t.Fatalf("response %v: got %d code exchanges, want none (%v)", q, len(exchanged), want)
	case !matchOutcome(err, want):
		t.Fatalf("response %v: got error %v, want one matching %v", q, err, want)
	}
	if err == nil {
		t.Fatal("the login succeeded although the token endpoint refuses every code")
	}
	msg := err.Error()
	if i := strings.IndexFunc(msg, isControlOrFormat); i >= 0 {
		t.Fatalf("error string has control or formatting character %U: %q", []rune(msg[i:])[0], msg)
	}
	if len(msg) > 2048 {
		t.Fatalf("error string is %d bytes long, want at most 2048", len(msg))
	}
	for _, s := range []string{req.State, req.Nonce, req.Verifier} {
		if strings.Contains(msg, s) || strings.Contains(fmtAll(err), s) {
			t.Fatalf("error %q holds a secret of the login", msg)
		}
	}
}

// errCallbackRefused stands for a *CallbackError in wantCallbackOutcome.
var errCallbackRefused = errors.New("any *CallbackError")

// errMalformedCallback stands for a response without one usable code.
var errMalformedCallback = errors.New("any error")

// wantCallbackOutcome says, independently of the code under test, how a
// login must end for the authorization response q: nil when its code must
// be redeemed. Parameters must not be repeated (RFC 6749 §3.1).
func wantCallbackOutcome(q url.Values, state string, issParam bool) error {
	if s := q["state"]; len(s) != 1 || s[0] != state {
		return ErrStateMismatch
	}
	if iss, sent := q["iss"]; (sent && (len(iss) != 1 || iss[0] != fuzzIssuer)) || (!sent && issParam) {
		return ErrIssuerMismatch
	}
	if len(q["error"]) > 1 {
		return errMalformedCallback
	}
	if q.Get("error") != "" {
		return errCallbackRefused
	}
	if c := q["code"]; len(c) != 1 || c[0] == "" {
		return errMalformedCallback
	}
	return nil
}

// matchOutcome reports whether err is the outcome want of
// wantCallbackOutcome.
func matchOutcome(err, want error) bool {
	var ce *CallbackError
	switch want {
	case errCallbackRefused:
		return errors.As(err, &ce)
	case errMalformedCallback:
		return err != nil
	}
	return errors.Is(err, want)
}

// fmtAll formats err with every verb a caller may use.
func fmtAll(err error) string {
	return fmt.Sprintf("%v %+v %#v %s %q", err, err, err, err, err)
}

// isControlOrFormat reports control and invisible formatting characters,
// which could forge log lines or reorder text.
func isControlOrFormat(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar
}

// tagRE finds the tags of a page.
var tagRE = regexp.MustCompile(`<[^<>]*>`)

// pageTags returns every tag the page template can write.
func pageTags() []string {
	rec := httptest.NewRecorder()
	writePage(rec, http.StatusOK, page{Title: "t", Message: "m", Code: "c", Detail: "d"})
	return tagRE.FindAllString(rec.Body.String(), -1)
}

// checkPage checks that every '<' of the page starts one of the template's
// own tags and that no control character other than a newline got in.
func checkPage(t *testing.T, rec *httptest.ResponseRecorder, allowed []string) {
	body := rec.Body.String()
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Fatalf("page holds a script:\n%s", body)
	}
	for i := strings.IndexByte(body, '<'); i >= 0; {
		rest := body[i:]
		ok := false
		for _, tag := range allowed {
			if strings.HasPrefix(rest, tag) {
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("page has markup the template did not write at byte %d:\n%s", i, body)
		}
		j := strings.IndexByte(rest[1:], '<')
		if j < 0 {
			break
		}
		i += j + 1
	}
	if i := strings.IndexFunc(body, func(r rune) bool { return r != '\n' && isControlOrFormat(r) }); i >= 0 {
		t.Fatalf("page has control or formatting character %U:\n%q", []rune(body[i:])[0], body)
	}
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusMisdirectedRequest && ct != "text/html; charset=utf-8" {
		t.Fatalf("page Content-Type: got %q, want text/html; charset=utf-8", ct)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("page headers: got %v, want nosniff and no-store", rec.Header())
	}
}

// fuzzRT is an in-memory provider: the discovery document of fuzzIssuer
// and a token endpoint that records every request and refuses it with
// invalid_grant, echoing the code and verifier as some servers do.
type fuzzRT struct {
	issParam bool

	mu        sync.Mutex   // guards exchanges
	exchanges []url.Values // token requests since the last take
}

// take returns the token requests since the last take.
func (rt *fuzzRT) take() []url.Values {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	x := rt.exchanges
	rt.exchanges = nil
	return x
}

func (rt *fuzzRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	switch r.URL.String() {
	case fuzzIssuer + "/.well-known/openid-configuration":
		return jsonResponse(r, http.StatusOK, map[string]any{
			"issuer":                 fuzzIssuer,
			"authorization_endpoint": fuzzIssuer + "/authorize",
			"token_endpoint":         fuzzIssuer + "/token",
			"jwks_uri":               fuzzIssuer + "/keys",
			"authorization_response_iss_parameter_supported": rt.issParam,
		}), nil
	case fuzzIssuer + "/token":
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		rt.mu.Lock()
		rt.exchanges = append(rt.exchanges, r.PostForm)
		rt.mu.Unlock()
		return jsonResponse(r, http.StatusBadRequest, map[string]string{
			"error":             "invalid_grant",
			"error_description": "unknown code " + r.PostForm.Get("code") + " for verifier " + r.PostForm.Get("code_verifier"),
		}), nil
	}
	return jsonResponse(r, http.StatusNotFound, map[string]string{"error": "not_found"}), nil
}

func jsonResponse(r *http.Request, status int, v any) *http.Response {
	b, _ := json.Marshal(v)
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(string(b))),
		Request:    r,
	}
}
