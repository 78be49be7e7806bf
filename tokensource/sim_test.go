package tokensource

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// The simulation: several processes, each with its own Source on its own
// handle of one shared store (a storage.Memory, whose Lock stands for the
// cross-process lock), talk to a model provider that rotates refresh
// tokens and revokes the family on reuse (simnet_test.go), in virtual time
// (testing/synctest). A seeded random schedule of operations (Token with
// random cancellation, RefreshRejected, SetToken, Forget, Close and
// restart, hooks that call back into the Source) and faults (latency,
// 503, 500 invalid_request, 429 with Retry-After, invalid_client, a
// connection reset after the provider rotated, a 200 whose rotated refresh
// token comes with a malformed expires_in, failing saves, saves that write
// but report an error, slow locks) runs
// against them, and after every step these invariants are checked:
//
//   - no process presents a spent refresh token whose successor reached it
//     or was saved to the store;
//   - every save's Version is above every Version saved before;
//   - the live family's newest refresh token, once it reached a process,
//     is in the store or in a live Source's memory;
//   - after a failed request, a process's next request waits at least one
//     back-off step and the server's Retry-After;
//   - no Source hands out an expired token;
//   - no goroutine outlives Close (synctest fails a bubble that leaks).
//
// A failing schedule prints its seed and its trace; -seed replays it:
//
//	go test ./tokensource -run 'TestSimulation' -seed N -v
var (
	simSeed      = flag.Uint64("seed", 0, "TestSimulation: run only the schedule with this seed, and print its trace")
	simSchedules = flag.Int("schedules", 10000, "TestSimulation: how many seeded schedules to run")
)

const simSteps = 40

func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		runSchedule(t, *simSeed, true)
		return
	}
	n := *simSchedules
	if testing.Short() {
		n = min(n, 1000)
	}
	const workers = 2
	for w := range workers {
		t.Run(fmt.Sprintf("worker%d", w), func(t *testing.T) {
			t.Parallel()
			for seed := uint64(w + 1); seed <= uint64(n); seed += workers {
				if !t.Run(fmt.Sprint(seed), func(t *testing.T) { runSchedule(t, seed, false) }) {
					t.Fatalf("schedule %d failed; replay it with: go test ./tokensource -run TestSimulation -seed %d -v", seed, seed)
				}
			}
		})
	}
}

// simWorld is one schedule's state.
type simWorld struct {
	rng     *rand.Rand
	p       *simProvider
	sh      *simShared
	procs   []*simProc
	trace   []string
	verbose bool
	t       *testing.T
	ops     sync.WaitGroup // operations running on their own goroutines
	sources int            // Sources started so far

	mu      sync.Mutex // guards the fields below, written by operation goroutines
	resets  map[int][]time.Time
	expired []string // tokens handed out after their expiry
	// forgetting counts Forget calls that have not returned: until they
	// do, the live login may be gone from everywhere, as asked.
	forgetting int
	lost       map[string]bool // refresh tokens that went with a Source whose Close could not save them
}

type simProc struct {
	id     int // the process
	sid    int // its current Source; violations name Sources
	h      *simHandle
	src    *Source
	hook   int // what OnEvent does: 0 nothing, 1 Token, 2 TokenContext, 3 Close
	events int // events its hook saw
	closed bool
}

func runSchedule(t *testing.T, seed uint64, verbose bool) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		p := newSimProvider(time.Duration(30+rng.IntN(600)) * time.Second)
		p.dpop = seed%4 == 0 // a quarter of the worlds bind their tokens with DPoP
		w := &simWorld{rng: rng, p: p, sh: &simShared{mem: storage.NewMemory(), p: p}, verbose: verbose, t: t,
			lost: map[string]bool{}, resets: map[int][]time.Time{}}
		nproc := 1 + rng.IntN(3)
		for i := range nproc {
			w.procs = append(w.procs, w.start(i))
		}
		w.note("provider access tokens live %v; %d processes; DPoP %v", p.lifetime, nproc, p.dpop)
		w.login(w.procs[0])
		for range simSteps {
			w.step()
			synctest.Wait()
			if verbose {
				w.note("state: %s", w.state())
			}
			w.check(t, false)
		}
		for _, pr := range w.procs {
			w.closeProc(pr)
		}
		w.ops.Wait() // every operation returns: none waits for a closed Source
		synctest.Wait()
		w.check(t, true)
		// synctest.Test fails if any goroutine of a Source is still blocked.
	})
}

func (w *simWorld) note(format string, args ...any) {
	line := time.Now().UTC().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if w.verbose {
		w.t.Log(line)
	}
}

// start makes process i's Source, with a random configuration.
func (w *simWorld) start(i int) *simProc {
	w.sources++
	sid := w.sources // the Source's own id: a restarted process does not know what its predecessor held
	pr := &simProc{id: i, sid: sid, h: &simHandle{sh: w.sh, proc: sid}, hook: w.rng.IntN(4)}
	cfg := Config{
		OAuth2:         &oauth2.Config{ClientID: "sim", Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}},
		Store:          pr.h,
		Key:            "acct",
		RefreshTimeout: time.Duration(5+w.rng.IntN(30)) * time.Second,
		RefreshBefore:  []time.Duration{-1, 0, 10 * time.Second, 2 * time.Minute}[w.rng.IntN(4)],
	}
	cfg.HTTPClient = &http.Client{Transport: &simNet{p: w.p, proc: sid, budget: cfg.RefreshTimeout}}
	var src *Source
	cfg.OnEvent = func(ev Event) {
		if w.verbose {
			w.t.Logf("%s Source %d event %v: %v", time.Now().UTC().Format("15:04:05.000"), sid, ev.Kind, ev.Err)
		}
		switch pr.hook {
		case 1:
			src.Token()
		case 2:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			src.TokenContext(ctx)
			cancel()
		case 3:
			pr.events++            // hooks of one Source run one at a time
			if pr.events%20 == 0 { // rarely, or the process would spend its life closed
				src.Close()
			}
		}
	}
	src, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	// The Source's jitter comes from the schedule's seed, so that a seed
	// replays the same delays.
	var jmu sync.Mutex
	jrng := rand.New(rand.NewPCG(w.rng.Uint64(), uint64(sid)))
	jitter := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		jmu.Lock()
		defer jmu.Unlock()
		return time.Duration(jrng.Int64N(int64(d)))
	}
	src.rnd.Store(&jitter)
	pr.src = src
	w.reset(sid)
	w.note("proc %d starts Source %d: hook %d, RefreshBefore %v, RefreshTimeout %v", i, sid, pr.hook, cfg.RefreshBefore, cfg.RefreshTimeout)
	return pr
}

func (w *simWorld) reset(proc int) {
	w.mu.Lock()
	w.resets[proc] = append(w.resets[proc], time.Now())
	w.mu.Unlock()
}

// login runs an interactive login for pr: a new family, saved by SetToken
// (which the schedule waits for: two logins racing make it unclear which
// one the user meant to keep).
func (w *simWorld) login(pr *simProc) {
	rec := w.p.login()
	w.note("proc %d logs in: %s", pr.id, rec.RefreshToken)
	w.reset(pr.sid)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pr.src.SetToken(ctx, rec); err != nil {
		w.note("proc %d SetToken: %v", pr.id, err)
	}
	w.reset(pr.sid) // SetToken resets the back-off when it returns
}

func (w *simWorld) closeProc(pr *simProc) {
	if pr.closed {
		return
	}
	pr.closed = true
	pr.h.setFaults(false, false, 0) // a process closes cleanly: its last save may work
	var rt string
	if e := pr.src.cur.Load(); e != nil && e.rec != nil && e.unsaved {
		rt = e.rec.RefreshToken
	}
	if err := pr.src.Close(); err != nil {
		// Its last save failed too, e.g. the lock was held by another
		// process's request for longer than RefreshTimeout: the process
		// exits with the token unsaved, as a crash would.
		w.note("proc %d Source %d Close: %v: %s is lost", pr.id, pr.sid, err, rt)
		w.mu.Lock()
		w.lost[rt] = true
		w.mu.Unlock()
	}
}

// step runs one random operation.
func (w *simWorld) step() {
	// Operations are at least a millisecond apart: two logins in the same
	// microsecond, which virtual time makes easy, do not happen in life.
	time.Sleep(time.Millisecond + time.Duration(w.rng.Int64N(int64(time.Millisecond))))
	pr := w.procs[w.rng.IntN(len(w.procs))]
	switch op := w.rng.IntN(20); {
	case op < 6:
		d := time.Duration(w.rng.Int64N(int64(3 * time.Minute)))
		w.note("time passes: %v", d)
		time.Sleep(d)
	case op < 11:
		w.call(pr, false)
	case op < 12:
		w.call(pr, true)
	case op < 13:
		w.login(pr)
	case op < 14:
		w.note("proc %d forgets the account", pr.id)
		w.reset(pr.sid)
		src := pr.src
		w.mu.Lock()
		w.forgetting++
		w.mu.Unlock()
		w.ops.Go(func() {
			if src.Forget(context.Background()) == nil {
				w.p.forget() // whatever login the store held when it was deleted is over
			}
			w.mu.Lock()
			w.forgetting--
			w.mu.Unlock()
		})
	case op < 15:
		w.note("proc %d restarts", pr.id)
		w.closeProc(pr)
		w.procs[pr.id] = w.start(pr.id)
	case op < 18:
		w.p.mu.Lock()
		w.p.fault = faultKind(w.rng.IntN(int(numFaults)))
		if w.rng.IntN(2) == 0 {
			w.p.fault = faultNone
		}
		w.p.latency = 0
		if w.rng.IntN(3) == 0 {
			w.p.latency = time.Duration(w.rng.Int64N(int64(20 * time.Second)))
		}
		w.p.retryAfter = 1 + w.rng.IntN(300)
		w.note("network: %v, latency %v, Retry-After %d s", w.p.fault, w.p.latency, w.p.retryAfter)
		w.p.mu.Unlock()
	default:
		failSave := w.rng.IntN(3) == 0 && pr.hook != 3
		wroteFail := !failSave && w.rng.IntN(4) == 0
		slow := time.Duration(0)
		if w.rng.IntN(3) == 0 {
			slow = time.Duration(w.rng.Int64N(int64(40 * time.Second)))
		}
		w.note("proc %d store: failing saves %v, saves that write but fail %v, lock wait %v", pr.id, failSave, wroteFail, slow)
		pr.h.setFaults(failSave, wroteFail, slow)
	}
}

// call asks pr's Source for a token, with a random deadline, or reports
// its current token rejected; it does not wait for the answer.
func (w *simWorld) call(pr *simProc, rejected bool) {
	timeout := time.Duration(w.rng.Int64N(int64(20 * time.Second)))
	background := w.rng.IntN(4) == 0
	src := pr.src
	w.ops.Go(func() {
		ctx := context.Background()
		if !background {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		var tok *oauth2.Token
		var err error
		if rejected {
			cur, cerr := src.TokenContext(ctx)
			if cerr != nil {
				return
			}
			tok, err = src.RefreshRejected(ctx, cur)
		} else {
			tok, err = src.TokenContext(ctx)
		}
		if err == nil && !tok.Expiry.IsZero() && !time.Now().Before(tok.Expiry) {
			w.mu.Lock()
			w.expired = append(w.expired, fmt.Sprintf("Source %d got a token that expired at %v", pr.sid, tok.Expiry.UTC().Format("15:04:05")))
			w.mu.Unlock()
		}
	})
}

// check verifies the invariants and fails the schedule with its trace.
func (w *simWorld) check(t *testing.T, final bool) {
	var bad []string
	w.p.mu.Lock()
	bad = append(bad, w.p.violations...)
	bad = append(bad, w.rateViolations()...)
	newest, live, inflight := w.liveNewest()
	w.p.mu.Unlock()
	w.mu.Lock()
	bad = append(bad, w.expired...)
	forgetting := w.forgetting > 0 || w.lost[newest]
	w.mu.Unlock()
	if live && inflight == 0 && !forgetting && !w.holds(newest, final) {
		bad = append(bad, fmt.Sprintf("the newest refresh token %s is neither stored nor held by a live Source: %s", newest, w.state()))
	}
	if len(bad) > 0 {
		t.Fatalf("invariants violated:\n  %s\ntrace:\n  %s", strings.Join(bad, "\n  "), strings.Join(w.trace, "\n  "))
	}
}

// liveNewest returns the newest refresh token of the live family, if it
// reached a process, and how many requests are in flight. p.mu is held.
func (w *simWorld) liveNewest() (string, bool, int) {
	if len(w.p.fams) == 0 {
		return "", false, w.p.inflight
	}
	f := w.p.fams[len(w.p.fams)-1]
	if f.revoked || f.over {
		return "", false, w.p.inflight
	}
	r := w.p.rts[f.newest]
	reached := r.prev == "" || w.p.rts[r.prev].delivered >= 0
	return f.newest, reached, w.p.inflight
}

// state describes the store and every Source, for a failure message.
func (w *simWorld) state() string {
	var b strings.Builder
	if rec, err := w.sh.mem.Load(context.Background(), "acct"); err == nil {
		fmt.Fprintf(&b, "stored %s v%d", rec.RefreshToken, rec.Version)
	} else {
		b.WriteString("nothing stored")
	}
	for _, pr := range w.procs {
		fmt.Fprintf(&b, "; proc %d Source %d", pr.id, pr.sid)
		switch e := pr.src.cur.Load(); {
		case pr.src.isClosed():
			b.WriteString(" closed")
		case e == nil:
			b.WriteString(" empty")
		case e.rec != nil:
			fmt.Fprintf(&b, " holds %s v%d unsaved=%v", e.rec.RefreshToken, e.rec.Version, e.unsaved)
		default:
			fmt.Fprintf(&b, " dead (v%d): %v", e.deadVersion, e.err)
		}
	}
	return b.String()
}

// holds reports whether rt is stored or held by a live Source.
func (w *simWorld) holds(rt string, final bool) bool {
	if rec, err := w.sh.mem.Load(context.Background(), "acct"); err == nil && rec.RefreshToken == rt {
		return true
	}
	for _, pr := range w.procs {
		if final || pr.closed || pr.src.isClosed() {
			continue
		}
		if e := pr.src.cur.Load(); e != nil && e.rec != nil && e.rec.RefreshToken == rt {
			return true
		}
	}
	return false
}

// rateViolations checks that after a failed request each process waited
// at least one back-off step, and Retry-After, unless it was reset
// (SetToken, Forget, restart) in between. p.mu is held.
func (w *simWorld) rateViolations() []string {
	var bad []string
	last := map[int]simRequest{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.p.reqs {
		prev, ok := last[r.proc]
		last[r.proc] = r
		if !ok || !prev.failed {
			continue
		}
		reset := false
		for _, at := range w.resets[r.proc] {
			if !at.Before(prev.at) && !at.After(r.at) {
				reset = true
			}
		}
		if want := max(firstBackoff, prev.retryAfter); !reset && r.at.Sub(prev.at) < want {
			bad = append(bad, fmt.Sprintf("Source %d sent a request %v after a failed one at %s, want at least %v", r.proc, r.at.Sub(prev.at), prev.at.UTC().Format("15:04:05.000"), want))
		}
	}
	return bad
}
