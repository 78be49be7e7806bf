package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// The faults the proxy injects. Each is one a client can survive: none
// loses a response after the provider rotated the refresh token.
const (
	fault503          = "503 (not forwarded)"
	fault500HTML      = "500 HTML (not forwarded)"
	fault429          = "429 Retry-After: 1 (not forwarded)"
	faultReset        = "connection reset (not forwarded)"
	faultSlowRequest  = "slow request (forwarded late)"
	faultSlowResponse = "slow response (relayed late)"
	faultOP503        = "provider's own 503 (FailTokenRequests)"
)

var faults = []string{fault503, fault500HTML, fault429, faultReset, faultSlowRequest, faultSlowResponse, faultOP503}

// faultProxy is a reverse proxy in front of the provider's token endpoint
// that injects a fault into a share of the requests and counts what
// passes.
type faultProxy struct {
	op     *oidctest.Provider
	target string // the provider's token endpoint
	rate   float64
	client *http.Client

	mu          sync.Mutex // guards the fields below
	rng         *rand.Rand
	requests    int
	refreshes   int            // requests with grant_type=refresh_token
	injected    map[string]int // fault → count
	answers     map[int]int    // status of the provider's answers to forwarded requests
	invalid     int            // invalid_grant answers from the provider
	forwardErrs map[string]int // requests that could not be forwarded, by error
	slowest     time.Duration  // longest injected delay
}

func newFaultProxy(op *oidctest.Provider, rate float64, seed uint64) *faultProxy {
	return &faultProxy{
		op:          op,
		target:      op.Endpoints().Token,
		rate:        rate,
		client:      &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		rng:         rand.New(rand.NewPCG(seed, seed^0x5eed)),
		injected:    map[string]int{},
		answers:     map[int]int{},
		forwardErrs: map[string]int{},
	}
}

// pick chooses the fault for one request ("" for none) and its delay.
func (px *faultProxy) pick(refresh bool) (string, time.Duration) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.requests++
	if refresh {
		px.refreshes++
	}
	if px.rng.Float64() >= px.rate {
		return "", 0
	}
	f := faults[px.rng.IntN(len(faults))]
	px.injected[f]++
	var d time.Duration
	if f == faultSlowRequest || f == faultSlowResponse {
		d = 200*time.Millisecond + time.Duration(px.rng.Int64N(int64(1300*time.Millisecond)))
		if px.rng.IntN(6) == 0 { // now and then, longer than the access token's life
			d = 2200*time.Millisecond + time.Duration(px.rng.Int64N(int64(400*time.Millisecond)))
		}
		px.slowest = max(px.slowest, d)
	}
	return f, d
}

func (px *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	form, _ := url.ParseQuery(string(body))
	fault, delay := px.pick(form.Get("grant_type") == "refresh_token")
	switch fault {
	case fault503:
		writeJSON(w, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
		return
	case fault500HTML:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html><body><h1>500 Internal Server Error</h1></body></html>")
		return
	case fault429:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, `{"error":"slow_down"}`)
		return
	case faultReset:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
		return
	case faultOP503:
		px.op.FailTokenRequests(1, oidctest.TokenError{})
	case faultSlowRequest:
		if !sleep(r.Context(), delay) {
			return
		}
	}
	resp, rb, err := px.forward(r, body)
	if err != nil {
		px.mu.Lock()
		px.forwardErrs[err.Error()]++
		px.mu.Unlock()
		writeJSON(w, http.StatusBadGateway, `{"error":"temporarily_unavailable"}`)
		return
	}
	if fault == faultSlowResponse && !sleep(r.Context(), delay) {
		return
	}
	for _, k := range []string{"Content-Type", "Cache-Control", "Retry-After", "WWW-Authenticate"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rb)))
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}

// forward sends the request to the provider and reads its answer.
func (px *faultProxy) forward(r *http.Request, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, px.target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for _, k := range []string{"Content-Type", "Accept", "Authorization"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := px.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	px.mu.Lock()
	px.answers[resp.StatusCode]++
	if bytes.Contains(rb, []byte(`"invalid_grant"`)) {
		px.invalid++
	}
	px.mu.Unlock()
	return resp, rb, nil
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
