package tokensource

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// This file is the world of the simulation (sim_test.go) and of the
// tests that run in virtual time: a model provider reached through an
// in-memory http.RoundTripper, and a shared store whose handles can fail.
// Everything blocks only on channels and timers, so it runs inside a
// testing/synctest bubble.

// faultKind is what the model network does to a token request.
type faultKind int

const (
	faultNone          faultKind = iota
	faultRefused                 // connection refused: nothing reaches the provider
	fault503                     // 503 temporarily_unavailable, not processed
	fault500Invalid              // 500 {"error":"invalid_request"} (Dex on a storage failure), not processed
	fault429                     // 429 with Retry-After, not processed
	faultInvalidClient           // 401 invalid_client, not processed
	faultResetAfter              // processed (the refresh token rotates), then the connection resets
	faultMalformed               // processed, answered 200 with the new tokens and expires_in -1
	faultDowngrade               // processed, answered 200 with the new tokens typed Bearer (DPoP worlds: a downgrade)
	numFaults
)

var faultNames = [...]string{"none", "refused", "503", "500 invalid_request", "429", "invalid_client", "reset after processing", "malformed 200", "downgraded 200"}

func (k faultKind) String() string { return faultNames[k] }

// simRT is one refresh token the model provider issued.
type simRT struct {
	fam       int
	prev      string // the token it replaced; "" for a login's
	used      bool
	next      string // its successor, once redeemed
	delivered int    // the process the successor's answer reached; -1: none (lost)
	persisted bool   // the successor, or a later token of the family, was saved to the store
}

// simFamily is one login's chain of refresh tokens.
type simFamily struct {
	jkt     string // the thumbprint of the DPoP key the family is bound to; "" for Bearer
	revoked bool   // a spent token was presented: the whole family is dead
	over    bool   // superseded by a newer login, or forgotten
	newest  string // the newest refresh token issued
}

// simRequest is one token request as the provider saw it.
type simRequest struct {
	proc       int
	at         time.Time
	failed     bool          // answered with a retryable or configuration failure
	retryAfter time.Duration // the Retry-After it was given
}

// simProvider is a token endpoint that rotates refresh tokens and, like
// Auth0 or Okta with reuse detection, revokes the whole family when a
// spent one is presented. It records every violation of the invariants it
// can see.
type simProvider struct {
	lifetime time.Duration // access tokens' expires_in
	dpop     bool          // logins bind their families to a DPoP key; set before the first login

	mu         sync.Mutex
	seq        int
	rts        map[string]*simRT
	fams       []*simFamily
	reqs       []simRequest
	inflight   int
	fault      faultKind
	latency    time.Duration // between processing a request and answering it
	retryAfter int           // seconds, for fault429
	violations []string
}

func newSimProvider(lifetime time.Duration) *simProvider {
	return &simProvider{lifetime: lifetime, rts: map[string]*simRT{}}
}

func (p *simProvider) violate(format string, args ...any) {
	p.violations = append(p.violations, fmt.Sprintf("%s: ", time.Now().UTC().Format("15:04:05.000"))+fmt.Sprintf(format, args...))
}

// login starts a new family for proc and returns its first tokens; every
// earlier family is over.
func (p *simProvider) login() *storage.Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.fams {
		f.over = true
	}
	p.fams = append(p.fams, &simFamily{})
	fam := len(p.fams) - 1
	p.seq++
	rt := fmt.Sprintf("rt-%d-%d", fam, p.seq)
	p.rts[rt] = &simRT{fam: fam, delivered: -1}
	p.fams[fam].newest = rt
	now := time.Now()
	rec := &storage.Token{AccessToken: fmt.Sprintf("at-%d-%d", fam, p.seq), TokenType: "Bearer", RefreshToken: rt, Expiry: now.Add(p.lifetime), AuthTime: now}
	if p.dpop {
		k := simKey(fam)
		p.fams[fam].jkt = k.Thumbprint()
		rec.TokenType, rec.DPoPKey = DPoPTokenType, k.Encode()
	}
	return rec
}

var simKeys = sync.OnceValue(func() []*DPoPKey {
	var ks []*DPoPKey
	for range 4 {
		k, err := NewDPoPKey("ES256")
		if err != nil {
			panic(err)
		}
		ks = append(ks, k)
	}
	return ks
})

// simKey is the DPoP key of family fam's login: one of a few made once.
func simKey(fam int) *DPoPKey { ks := simKeys(); return ks[fam%len(ks)] }

// proofKey returns the thumbprint of the key in proof's header, "" when
// there is no proof. The signature is not checked here (other tests do):
// the simulation looks for refreshes that lose the key, not for bad
// proofs, and checking would double its running time.
func proofKey(proof string) string {
	if proof == "" {
		return ""
	}
	jws, err := jose.ParseSigned(proof, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return ""
	}
	h := jws.Signatures[0].Protected
	if h.JSONWebKey == nil || h.ExtraHeaders[jose.HeaderType] != "dpop+jwt" {
		return ""
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// forget marks the live family over: the account was logged out.
func (p *simProvider) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.fams {
		f.over = true
	}
}

// persisted notes that rt was saved: every token before it in its family
// now has a successor in the store.
func (p *simProvider) persisted(rt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for r := p.rts[rt]; r != nil && r.prev != ""; r = p.rts[r.prev] {
		p.rts[r.prev].persisted = true
	}
}

// redeem processes a refresh-token grant from proc and returns the status,
// the body, and the record of the presented token (nil if unknown).
func (p *simProvider) redeem(proc int, rt, jkt string) (int, string, *simRT) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rts[rt]
	if r == nil {
		return 400, `{"error":"invalid_grant","error_description":"unknown refresh token"}`, nil
	}
	fam := p.fams[r.fam]
	if fam.jkt != "" && jkt != fam.jkt {
		p.violate("Source %d presented DPoP-bound %s without a proof of its key", proc, rt)
		return 400, `{"error":"invalid_grant","error_description":"DPoP proof missing or of another key"}`, r
	}
	if r.used {
		// Presenting a spent token is unavoidable only when its successor
		// never reached this process and was never saved.
		if r.delivered == proc || r.persisted {
			p.violate("Source %d presented spent %s (successor delivered to Source %d, persisted %v)", proc, rt, r.delivered, r.persisted)
		}
		fam.revoked = true
	}
	if fam.revoked {
		return 400, `{"error":"invalid_grant","error_description":"token family revoked"}`, r
	}
	r.used = true
	p.seq++
	r.next = fmt.Sprintf("rt-%d-%d", r.fam, p.seq)
	p.rts[r.next] = &simRT{fam: r.fam, prev: rt, delivered: -1}
	fam.newest = r.next
	typ := "Bearer"
	if fam.jkt != "" {
		typ = DPoPTokenType
	}
	body := fmt.Sprintf(`{"access_token":"at-%d-%d","token_type":%q,"expires_in":%d,"refresh_token":%q}`, r.fam, p.seq, typ, int(p.lifetime/time.Second), r.next)
	return 200, body, r
}

// deliver notes that the answer redeeming r reached proc.
func (p *simProvider) deliver(r *simRT, proc int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r != nil && r.next != "" {
		r.delivered = proc
	}
}

// simNet is one process's network: an http.RoundTripper to p.
type simNet struct {
	p    *simProvider
	proc int
	// budget is the Source's RefreshTimeout: a request abandoned before
	// its answer had that long to arrive was cut short by the Source.
	budget time.Duration
}

var errSimRefused = errors.New("dial tcp 192.0.2.1:443: connect: connection refused")
var errSimReset = errors.New("read tcp: connection reset by peer")

func (n *simNet) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))
	p := n.p
	p.mu.Lock()
	fault, latency, ra := p.fault, p.latency, p.retryAfter
	if p.storming(n.proc) {
		// A retry storm: at the same virtual instant it would never let
		// time pass, and the schedule would hang instead of failing. Hold
		// the request for an hour, so that time passes and the step's
		// check reports the request rate.
		p.mu.Unlock()
		select {
		case <-time.After(time.Hour):
		case <-req.Context().Done():
		}
		p.mu.Lock()
	}
	p.reqs = append(p.reqs, simRequest{proc: n.proc, at: time.Now()})
	i := len(p.reqs) - 1
	p.inflight++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
	failed := func(retryAfter time.Duration) {
		p.mu.Lock()
		p.reqs[i].failed, p.reqs[i].retryAfter = true, retryAfter
		p.mu.Unlock()
	}
	switch fault {
	case faultRefused:
		failed(0)
		return nil, errSimRefused
	case fault503:
		failed(0)
		return simResponse(req, 503, `{"error":"temporarily_unavailable"}`, nil), nil
	case fault500Invalid:
		failed(0)
		return simResponse(req, 500, `{"error":"invalid_request"}`, nil), nil
	case fault429:
		failed(time.Duration(ra) * time.Second)
		return simResponse(req, 429, `{"error":"slow_down"}`, http.Header{"Retry-After": {strconv.Itoa(ra)}}), nil
	case faultInvalidClient:
		failed(0)
		return simResponse(req, 401, `{"error":"invalid_client"}`, nil), nil
	}
	sent := time.Now()
	status, answer, r := p.redeem(n.proc, form.Get("refresh_token"), proofKey(req.Header.Get("DPoP")))
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-req.Context().Done():
			// The client gave up on an answer that was on its way. If it
			// did so before the answer had the Source's whole budget, the
			// Source lost a rotation it could have had: blame it.
			if time.Since(sent) < n.budget {
				p.deliver(r, n.proc)
			}
			failed(0)
			return nil, req.Context().Err()
		}
	}
	if status != 200 {
		return simResponse(req, status, answer, nil), nil
	}
	switch fault {
	case faultResetAfter:
		failed(0)
		return nil, errSimReset
	case faultMalformed:
		failed(0)
		answer = strings.Replace(answer, fmt.Sprintf(`"expires_in":%d`, int(p.lifetime/time.Second)), `"expires_in":-1`, 1)
	case faultDowngrade:
		if strings.Contains(answer, `"token_type":"DPoP"`) {
			failed(0)
			answer = strings.Replace(answer, `"token_type":"DPoP"`, `"token_type":"Bearer"`, 1)
		}
	}
	p.deliver(r, n.proc)
	return simResponse(req, 200, answer, nil), nil
}

// storming reports whether proc's last five requests all failed within
// one back-off step: a retry storm, which no reset explains. p.mu is held.
func (p *simProvider) storming(proc int) bool {
	n, first := 0, time.Time{}
	for i := len(p.reqs) - 1; i >= 0 && n < 5; i-- {
		if r := p.reqs[i]; r.proc == proc {
			if !r.failed {
				return false
			}
			n, first = n+1, r.at
		}
	}
	return n == 5 && time.Since(first) < firstBackoff
}

func simResponse(req *http.Request, status int, body string, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(bytes.NewBufferString(body)), ContentLength: int64(len(body)), Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// simShared is the store every process shares: a storage.Memory, which
// is also the cross-process lock, watched for versions that go back.
type simShared struct {
	mem *storage.Memory
	p   *simProvider

	mu     sync.Mutex
	last   uint64 // the highest Version saved
	lastBy string // who saved it, and its refresh token
	// deleted: the record was deleted since the last save. The next save
	// is a login, whose Version comes from the clock: in virtual time,
	// where many steps share one microsecond, it may be lower.
	deleted bool
}

// simHandle is one process's handle on the shared store, with its own
// faults.
type simHandle struct {
	sh        *simShared
	proc      int
	failSave  bool          // guarded by sh.mu
	wroteFail bool          // guarded by sh.mu: saves write, then report an error
	slowLock  time.Duration // guarded by sh.mu
}

func (h *simHandle) Load(ctx context.Context, key string) (*storage.Token, error) {
	return h.sh.mem.Load(ctx, key)
}

func (h *simHandle) Save(ctx context.Context, key string, t *storage.Token) error {
	sh := h.sh
	sh.mu.Lock()
	if h.failSave {
		sh.mu.Unlock()
		return errDiskFull
	}
	if t.Version <= sh.last && !sh.deleted {
		sh.p.mu.Lock()
		sh.p.violate("Source %d saved version %d (%s) over version %d (%s)", h.proc, t.Version, t.RefreshToken, sh.last, sh.lastBy)
		sh.p.mu.Unlock()
	}
	if t.Version > sh.last || sh.deleted {
		sh.last, sh.lastBy = t.Version, fmt.Sprintf("Source %d, %s", h.proc, t.RefreshToken)
	}
	sh.deleted = false
	wroteFail := h.wroteFail
	sh.mu.Unlock()
	if err := sh.mem.Save(ctx, key, t); err != nil {
		return err
	}
	sh.p.persisted(t.RefreshToken)
	if wroteFail {
		return errDiskFull // written, and fsynced, but the directory's fsync failed
	}
	return nil
}

func (h *simHandle) Delete(ctx context.Context, key string) error {
	h.sh.mu.Lock()
	h.sh.deleted = true
	h.sh.mu.Unlock()
	return h.sh.mem.Delete(ctx, key)
}

func (h *simHandle) Lock(ctx context.Context, key string) (func() error, error) {
	h.sh.mu.Lock()
	d := h.slowLock
	h.sh.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", storage.ErrLockTimeout, ctx.Err())
		}
	}
	return h.sh.mem.Lock(ctx, key)
}

func (h *simHandle) setFaults(failSave, wroteFail bool, slowLock time.Duration) {
	h.sh.mu.Lock()
	h.failSave, h.wroteFail, h.slowLock = failSave, wroteFail, slowLock
	h.sh.mu.Unlock()
}
