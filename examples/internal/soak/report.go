package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is the outcome of a run.
type report struct {
	o           options
	elapsed     time.Duration
	total       *Stats
	procs       []*Stats
	px          *faultProxy
	opRefreshes int // refresh_token requests the provider received
	final       finalResult
}

// write prints the report and returns an error naming every assertion
// that failed.
func (r *report) write(w io.Writer) error {
	t, px := r.total, r.px
	px.mu.Lock()
	defer px.mu.Unlock()
	waits := sortedWaits(t.Waits)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	p("soak: %v (ran %v), access tokens of %v, %d goroutines here + %d processes × %d goroutines, pause ~%v, fault rate %.2f, seed %d",
		r.o.Duration, r.elapsed.Round(time.Millisecond), tokenLifetime, r.o.Goroutines, r.o.Children, r.o.ChildGoroutines, r.o.Pause, r.o.FaultRate, r.o.Seed)
	p("")
	p("token endpoint (all processes, through the fault injector)")
	p("  token requests            %d (refresh_token grant: %d; received by the provider: %d)", px.requests, px.refreshes, r.opRefreshes)
	injected := 0
	for _, n := range px.injected {
		injected += n
	}
	p("  faults injected           %d (longest delay %v)", injected, px.slowest.Round(time.Millisecond))
	for _, f := range faults {
		p("    %-40s %d", f, px.injected[f])
	}
	p("  provider's answers        %s", countsByStatus(px.answers))
	p("  invalid_grant answers     %d", px.invalid)
	for _, k := range sortedKeys(px.forwardErrs) {
		p("  not forwarded: %s: %d", k, px.forwardErrs[k])
	}
	p("")
	p("tokensource events (all processes)")
	for _, k := range sortedKeys(t.Events) {
		p("  %-24s  %d", k, t.Events[k])
	}
	for _, k := range sortedKeys(t.EventErrors) {
		p("    %-88s %d", k, t.EventErrors[k])
	}
	p("")
	p("Token() calls               %d", len(waits))
	p("  wait p50 %v  p99 %v  p99.9 %v  max %v", percentile(waits, 50), percentile(waits, 99), percentileF(waits, 99.9), percentile(waits, 100))
	p("resource requests           %d (200 in the end: %d)", t.Requests, t.RequestsOK)
	sends := int64(0)
	for _, n := range t.SendStatus {
		sends += n
	}
	p("  sends (replays included)  %d", sends)
	for _, k := range sortedKeys(t.SendStatus) {
		p("    %-80s %d", k, t.SendStatus[k])
	}
	p("expired tokens")
	p("  handed out                forced by a fault %d, unforced %d", t.ExpiredHandouts.Forced, t.ExpiredHandouts.Unforced)
	p("  sent to the resource      forced by a fault %d, unforced %d (latest send %v after expiry)", t.ExpiredSends.Forced, t.ExpiredSends.Unforced, t.ExpiredSends.MaxLate.Round(time.Millisecond))
	p("errors by kind (all processes)")
	if len(t.Errors) == 0 {
		p("  none")
	}
	for _, k := range sortedKeys(t.Errors) {
		p("  %-90s %d", k, t.Errors[k])
	}
	p("")
	p("per process                 goroutines  Token() calls  p99 wait   refreshed  adopted  errors")
	for _, s := range r.procs {
		ws := sortedWaits(s.Waits)
		errs := int64(0)
		for _, n := range s.Errors {
			errs += n
		}
		p("  %-24s  %10d  %13d  %9v  %9d  %7d  %6d", s.Name, s.Goroutines, len(ws), percentile(ws, 99).Round(time.Microsecond), s.Events["refreshed"], s.Events["adopted"], errs)
	}
	p("")
	if r.final.err != nil {
		p("final check                 the stored refresh token (record version %d) FAILED: %v", r.final.version, r.final.err)
	} else {
		p("final check                 the stored refresh token (record version %d) redeemed at the provider; resource with the new access token: %d", r.final.version, r.final.resource)
	}

	var failed []error
	if n := t.ExpiredSends.Unforced; n > 0 {
		failed = append(failed, fmt.Errorf("%d resource requests were sent with a token that had expired and no fault forced it", n))
	}
	if n := t.ExpiredHandouts.Unforced; n > 0 {
		failed = append(failed, fmt.Errorf("%d times a token that had expired was handed out and no fault forced it", n))
	}
	if px.invalid > 0 {
		failed = append(failed, fmt.Errorf("the provider answered invalid_grant %d times", px.invalid))
	}
	for k, n := range t.Errors {
		if strings.Contains(k, "login required") {
			failed = append(failed, fmt.Errorf("%d errors %q", n, k))
		}
	}
	if r.final.err != nil {
		failed = append(failed, fmt.Errorf("a refresh token was lost: %w", r.final.err))
	}
	if len(waits) == 0 || t.Events["refreshed"] == 0 {
		failed = append(failed, errors.New("nothing ran"))
	}
	if err := errors.Join(failed...); err != nil {
		p("result: FAIL\n%v", err)
		return err
	}
	p("result: PASS (no unforced expired token sent or handed out, no invalid_grant, no login required, stored refresh token works)")
	return nil
}

func percentileF(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return time.Duration(sorted[min(int(float64(len(sorted))*p/100), len(sorted)-1)])
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func countsByStatus(m map[int]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("HTTP %d: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
