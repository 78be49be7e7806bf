package transport

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dpopCase is a request with a DPoP token to a scripted resource server.
type dpopCase struct {
	name     string
	answers  []answer
	body     bodyKind
	rejected func(*http.Response) bool

	wantStatus    int
	wantSends     int
	wantRefreshes int32
	wantNonces    []string // DPoPNonce calls, in order
}

func (tc dpopCase) run(t *testing.T) {
	req := replayCase{body: tc.body}.request(t, t.Context())
	req.URL.RawQuery, req.URL.Fragment = "x=1", "frag"
	before := takeSnapshot(req)
	p := newFakeProver("stale")
	base := &script{t: t, answers: tc.answers}
	tr := &Transport{Source: p, Base: base, Rejected: tc.rejected}

	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("got error %v, want status %d", err, tc.wantStatus)
	}
	if resp.StatusCode != tc.wantStatus || len(base.sends) != tc.wantSends || p.calls.Load() != tc.wantRefreshes {
		t.Fatalf("got status %d after %d sends and %d refreshes, want %d after %d and %d",
			resp.StatusCode, len(base.sends), p.calls.Load(), tc.wantStatus, tc.wantSends, tc.wantRefreshes)
	}
	before.checkUnchanged(t, req)
	tc.checkSends(t, p, base)
	for i, b := range base.bodies {
		last := i == len(base.bodies)-1
		if last && !b.untouched() || !last && b.closed.Load() != 1 {
			t.Errorf("response %d: closed %d times, want the returned one untouched and the others closed", i, b.closed.Load())
		}
	}
}

// checkSends checks that each send carried the token of its own proof, a
// proof made for it (method, URL, the nonce last reported) and not used
// before, and the whole body; and which nonces were reported.
func (tc dpopCase) checkSends(t *testing.T, p *fakeProver, base *script) {
	t.Helper()
	proofs, nonces := p.recorded()
	if len(proofs) != len(base.sends) {
		t.Fatalf("got %d proofs for %d sends, want one per send", len(proofs), len(base.sends))
	}
	seen := map[string]bool{}
	nonce := ""
	wantBody := "payload"
	if tc.body == bodyNil || tc.body == bodyNoBody {
		wantBody = ""
	}
	for i, s := range base.sends {
		pc := proofs[i]
		switch {
		case pc.method != http.MethodPut || pc.url != "https://api.example.com/items/1?x=1#frag":
			t.Errorf("send %d: proof made for %s %s, want the request's method and URL", i, pc.method, pc.url)
		case s.dpop != pc.proof || seen[s.dpop]:
			t.Errorf("send %d: got DPoP %q, want a new proof (%q)", i, s.dpop, pc.proof)
		case s.auth != "DPoP "+pc.token:
			t.Errorf("send %d: got Authorization %q, want the DPoP scheme and the proof's token %q", i, s.auth, pc.token)
		case !strings.HasSuffix(s.dpop, "-"+nonce):
			t.Errorf("send %d: got proof %q, want one with the nonce %q", i, s.dpop, nonce)
		case s.body != wantBody:
			t.Errorf("send %d: got body %q, want %q", i, s.body, wantBody)
		}
		seen[s.dpop] = true
		if n := tc.answers[min(i, len(tc.answers)-1)].nonce; n != "" {
			nonce = n
		}
	}
	var got []string
	for _, n := range nonces {
		if n.url != "https://api.example.com/items/1?x=1#frag" {
			t.Errorf("got nonce %q reported for %s, want the request's URL", n.nonce, n.url)
		}
		got = append(got, n.nonce)
	}
	if strings.Join(got, ",") != strings.Join(tc.wantNonces, ",") {
		t.Errorf("got nonces %q reported, want %q", got, tc.wantNonces)
	}
}

// TestDPoP covers the rules for requests that carry a DPoP token: a fresh
// proof on every send, every DPoP-Nonce reported, one retry with the nonce
// after a 401 use_dpop_nonce when the body can be replayed, one refresh and
// replay after a DPoP (or Bearer) invalid_token, never a refresh on
// insufficient_scope or use_dpop_nonce, at most one of each per request.
func TestDPoP(t *testing.T) {
	ok := answer{status: 200}
	nonce1 := answer{status: 401, challenge: useNonce, nonce: "n1"}
	nonce2 := answer{status: 401, challenge: useNonce, nonce: "n2"}
	invalid := answer{status: 401, challenge: dpopInvalidToken}
	any401 := func(r *http.Response) bool { return r.StatusCode == http.StatusUnauthorized }
	status403 := func(r *http.Response) bool { return r.StatusCode == http.StatusForbidden }
	for _, tc := range []dpopCase{
		{name: "200", answers: []answer{ok}, body: bodyReplayable, wantStatus: 200, wantSends: 1},
		{name: "200 with a nonce", answers: []answer{{status: 200, nonce: "n1"}}, body: bodyReplayable, wantStatus: 200, wantSends: 1, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce, replayable body", answers: []answer{nonce1, ok}, body: bodyReplayable, wantStatus: 200, wantSends: 2, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce, nil body", answers: []answer{nonce1, ok}, body: bodyNil, wantStatus: 200, wantSends: 2, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce, NoBody", answers: []answer{nonce1, ok}, body: bodyNoBody, wantStatus: 200, wantSends: 2, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce, one-shot body", answers: []answer{nonce1, ok}, body: bodyOneShot, wantStatus: 401, wantSends: 1, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce, GetBody fails", answers: []answer{nonce1, ok}, body: bodyGetBodyFail, wantStatus: 401, wantSends: 1, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce without DPoP-Nonce", answers: []answer{{status: 401, challenge: useNonce}, ok}, wantStatus: 401, wantSends: 1},
		{name: "use_dpop_nonce in a Bearer challenge", answers: []answer{{status: 401, challenge: `Bearer error="use_dpop_nonce"`, nonce: "n1"}, ok}, wantStatus: 401, wantSends: 1, wantNonces: []string{"n1"}},
		{name: "use_dpop_nonce with 400", answers: []answer{{status: 400, challenge: useNonce, nonce: "n1"}, ok}, wantStatus: 400, wantSends: 1, wantNonces: []string{"n1"}},
		{name: "always use_dpop_nonce: one retry", answers: []answer{nonce1, nonce2}, body: bodyReplayable, wantStatus: 401, wantSends: 2, wantNonces: []string{"n1", "n2"}},
		{name: "invalid_dpop_proof is returned", answers: []answer{{status: 401, challenge: dpopProofRejected}, ok}, wantStatus: 401, wantSends: 1},
		{name: "DPoP invalid_token: refresh and replay", answers: []answer{invalid, ok}, body: bodyReplayable, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "Bearer invalid_token to a DPoP token", answers: []answer{{status: 401, challenge: invalidToken}, ok}, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "invalid_token with a nonce", answers: []answer{{status: 401, challenge: dpopInvalidToken, nonce: "n1"}, ok}, wantStatus: 200, wantSends: 2, wantRefreshes: 1, wantNonces: []string{"n1"}},
		{name: "invalid_token twice: one refresh", answers: []answer{invalid}, wantStatus: 401, wantSends: 2, wantRefreshes: 1},
		{name: "invalid_token, one-shot body", answers: []answer{invalid, ok}, body: bodyOneShot, wantStatus: 401, wantSends: 1},
		{name: "nonce, then invalid_token", answers: []answer{nonce1, invalid, ok}, body: bodyReplayable, wantStatus: 200, wantSends: 3, wantRefreshes: 1, wantNonces: []string{"n1"}},
		{name: "invalid_token, then nonce", answers: []answer{invalid, nonce1, ok}, body: bodyReplayable, wantStatus: 200, wantSends: 3, wantRefreshes: 1, wantNonces: []string{"n1"}},
		{name: "nonce, invalid_token, nonce: no more", answers: []answer{nonce1, invalid, nonce2, ok}, wantStatus: 401, wantSends: 3, wantRefreshes: 1, wantNonces: []string{"n1", "n2"}},
		{name: "invalid_token, nonce, invalid_token: no more", answers: []answer{invalid, nonce1, invalid, ok}, wantStatus: 401, wantSends: 3, wantRefreshes: 1, wantNonces: []string{"n1"}},
		{name: "401 insufficient_scope", answers: []answer{{status: 401, challenge: dpopInsufficient}, ok}, wantStatus: 401, wantSends: 1},
		{name: "403 insufficient_scope", answers: []answer{{status: 403, challenge: dpopInsufficient}, ok}, wantStatus: 403, wantSends: 1},
		{name: "hook: 401 insufficient_scope never refreshes", answers: []answer{{status: 401, challenge: dpopInsufficient}, ok}, rejected: any401, wantStatus: 401, wantSends: 1},
		{name: "hook: 403 insufficient_scope never refreshes", answers: []answer{{status: 403, challenge: dpopInsufficient}, ok}, rejected: status403, wantStatus: 403, wantSends: 1},
		{name: "hook: use_dpop_nonce never refreshes", answers: []answer{nonce1, nonce2, ok}, rejected: any401, wantStatus: 401, wantSends: 2, wantNonces: []string{"n1", "n2"}},
		{name: "hook: 401 without challenge", answers: []answer{{status: 401}, ok}, rejected: any401, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestDPoPNonceBurst: 30 concurrent requests whose first sends all meet a
// 401 use_dpop_nonce make one retry each, with the nonce: to a server that
// then accepts them, and to one that asks for a new nonce every time, which
// gets its 401 back after two sends per request, never a loop.
func TestDPoPNonceBurst(t *testing.T) {
	for _, tc := range []struct {
		name       string
		always     bool
		wantStatus int
	}{
		{name: "server accepts the nonce", wantStatus: http.StatusOK},
		{name: "server always asks for a new nonce", always: true, wantStatus: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 30
			var (
				mu       sync.Mutex
				sends    = map[string][]string{} // request id → DPoP of each send
				first    int
				allFirst = make(chan struct{})
				issued   atomic.Int32
			)
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				id, proof := r.Header.Get("X-Request-Id"), r.Header.Get("DPoP")
				mu.Lock()
				sends[id] = append(sends[id], proof)
				if len(sends[id]) == 1 {
					if first++; first == n {
						close(allFirst)
					}
				}
				mu.Unlock()
				if strings.HasSuffix(proof, "-n1") && !tc.always {
					return
				}
				select { // answer only once all n first sends are in
				case <-allFirst:
				case <-time.After(5 * time.Second):
					t.Error("timed out waiting for the burst")
				}
				nonce := "n1"
				if tc.always {
					nonce = fmt.Sprintf("n%d", issued.Add(1)+1)
				}
				w.Header().Set("DPoP-Nonce", nonce)
				w.Header().Set("WWW-Authenticate", useNonce)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			defer api.Close()
			p := newFakeProver(secret)
			client := &http.Client{Transport: &Transport{Source: p, Base: api.Client().Transport}}
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, api.URL, strings.NewReader("payload"))
					req.Header.Set("X-Request-Id", fmt.Sprint(i))
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != tc.wantStatus {
						t.Errorf("request %d: got status %d, want %d", i, resp.StatusCode, tc.wantStatus)
					}
				})
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				got := sends[fmt.Sprint(i)]
				if len(got) != 2 || got[0] != strings.TrimSuffix(got[0], "-n1") || !strings.Contains(got[1], "-n") {
					t.Errorf("request %d: got proofs %q, want two, the second with a nonce", i, got)
				}
			}
			if proofs, nonces := p.recorded(); len(proofs) != 2*n || len(nonces) != 2*n && tc.always || len(nonces) != n && !tc.always {
				t.Errorf("got %d proofs and %d nonces reported, want %d and one per 401", len(proofs), len(nonces), 2*n)
			}
		})
	}
}

// TestInvalidToken: the default rejection rule, and the building block of
// Rejected hooks, reads the error of the first Bearer and of the first DPoP
// challenge of a 401.
func TestInvalidToken(t *testing.T) {
	for _, tc := range []struct {
		status    int
		challenge string
		want      bool
	}{
		{401, invalidToken, true},
		{401, dpopInvalidToken, true},
		{401, `Basic realm="x", dpop error="invalid_token"`, true},
		{401, `Bearer realm="api", ` + dpopInvalidToken, true},
		{401, `Bearer error="invalid_request", DPoP error="invalid_token"`, true},
		{401, `DPoP error="invalid_token`, false}, // malformed
		{401, useNonce, false},
		{401, dpopInsufficient, false},
		{401, dpopProofRejected, false},
		{401, `Basic error="invalid_token"`, false},
		{401, "", false},
		{403, dpopInvalidToken, false},
		{200, dpopInvalidToken, false},
	} {
		resp, _ := response(tc.status, tc.challenge)
		if got := InvalidToken(resp); got != tc.want {
			t.Errorf("InvalidToken(%d %s) = %v, want %v", tc.status, tc.challenge, got, tc.want)
		}
	}
}
