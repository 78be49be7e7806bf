package tokensource

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// flight is one refresh, shared by every caller that waits for it.
type flight struct {
	done chan struct{} // closed when e and err are set
	e    *entry
	err  error
}

// Who starts a flight: join's callers.
const (
	byCaller = iota // a caller without a valid token: refused during a back-off
	byKick          // the hot path in the refresh window: refused during a back-off
	byTimer         // the scheduler's timer: its time has come
)

// join returns the running flight, or starts one. During a back-off (the
// last attempt failed and the scheduler has not reached the next one) it
// starts none: it returns the last error instead, so that however many
// callers arrive, the token endpoint sees one request per back-off step.
// A nil flight with a nil error means there is nothing to do (a kick
// during a back-off). The flight runs on a context detached from ctx
// (its values are kept, its cancellation is not).
func (s *Source) join(ctx context.Context, rejected string, by int) (*flight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joinLocked(ctx, rejected, by)
}

// joinLocked is join with s.mu held.
func (s *Source) joinLocked(ctx context.Context, rejected string, by int) (*flight, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if f := s.inflight; f != nil {
		return f, nil
	}
	if by != byTimer && s.lastErr != nil && s.clock().Before(s.retryAt) {
		if by == byKick {
			return nil, nil
		}
		return nil, s.lastErr
	}
	f := &flight{done: make(chan struct{})}
	s.inflight = f // set before go: no second flight can start
	s.wg.Add(1)
	go s.fly(f, context.WithoutCancel(ctx), rejected)
	return f, nil
}

// fly runs flight f. Waiters are released, and the scheduler has decided
// the next attempt, before any hook (Config.OnEvent, the logger) runs, and
// no lock is held then: a hook may call the Source, Close included.
func (s *Source) fly(f *flight, parent context.Context, rejected string) {
	r := s.newRun(parent)
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("tokensource: refresh panicked", slog.String("key", s.cfg.Key), slog.String("panic", fmt.Sprintf("%T", p)), slog.String("stack", string(debug.Stack())))
				f.e, f.err = nil, fmt.Errorf("tokensource: refresh panicked (%T)", p)
			}
		}()
		f.e, f.err = s.refresh(r, rejected)
	}()
	r.end()
	s.mu.Lock()
	s.inflight = nil
	switch e := s.cur.Load(); {
	case f.err != nil:
		if !r.counted {
			s.failLocked(f.err)
		}
	case e != nil && e.unsaved:
		// The token is good but not saved: retry the save on the
		// back-off schedule. Callers are not held back (lastErr is nil).
		s.failures++
		s.lastErr, s.retryAt = nil, s.clock().Add(s.backoff(s.failures))
	default:
		s.resetLocked()
	}
	s.scheduleLocked()
	s.mu.Unlock()
	s.emitting.Add(1)
	close(f.done)
	s.wg.Done()
	s.emitAll(r.events)
	s.emitting.Add(-1)
}

// run is one refresh's working state, handed down the refresh path.
type run struct {
	// ctx bounds the waiting: for the semaphore, the store's lock, the
	// store's reads and the pauses between attempts. It ends after
	// RefreshTimeout or with Close. A token request is only sent while
	// ctx lives.
	ctx context.Context
	// parent is the context the flight was started with, detached from
	// its caller's cancellation. Each token request gets a budget of its
	// own from it (see answer), unaffected by the time spent waiting.
	parent  context.Context
	events  []Event // emitted by fly once waiters are released
	counted bool    // the last request's failure was already reported to the scheduler
	end     func()
}

func (s *Source) newRun(parent context.Context) *run {
	wait, cancelWait := context.WithTimeout(parent, s.cfg.RefreshTimeout)
	stop := context.AfterFunc(s.closing, cancelWait)
	return &run{ctx: wait, parent: parent, end: func() { stop(); cancelWait() }}
}

// answer returns the context for one token request and the handling of
// its answer (CheckRefresh, the save): a full RefreshTimeout from the
// moment the request is sent, which neither the caller's departure nor
// Close cuts short, since the provider may rotate the refresh token
// before it answers.
func (r *run) answer(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.parent, timeout)
}

func (r *run) add(ev Event) { r.events = append(r.events, ev) }

// kick starts one background refresh for the current entry, which is
// stale but valid. Called on the hot path: after the first call in the
// refresh window it costs one atomic load.
func (s *Source) kick() {
	if s.cfg.RefreshBefore < 0 || s.bg.Load() || !s.bg.CompareAndSwap(false, true) {
		return
	}
	s.join(context.Background(), "", byKick) // closed or backing off: nothing to do
}

// The scheduler. Every failed attempt (a token request, or the store's
// lock or read before it) moves it one back-off step; success, a login
// and SetToken reset it. It decides the time of the next attempt for all
// of them: callers, the hot path's kick, and the timer.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = time.Minute
	// deadRecheck is how often, at most, a Source whose account needs a
	// login looks in the store for a login another process saved.
	deadRecheck = time.Second
	// maxRetryAfter bounds the Retry-After the scheduler honours: a
	// server that asks for days is taken to mean "an hour", so that a
	// buggy or hostile answer cannot stop refreshes until a restart.
	maxRetryAfter = time.Hour
)

// backoff is the delay after the n-th consecutive failure (n ≥ 1): 250 ms
// doubling up to a minute, plus up to a quarter more at random so that
// replicas that failed together spread out.
func (s *Source) backoff(n int) time.Duration {
	d := maxBackoff
	if n < 10 {
		d = min(firstBackoff<<(n-1), maxBackoff)
	}
	return d + s.jitter(d/4)
}

// failLocked records a failed attempt: the next one may start no sooner
// than one back-off step, or the server's Retry-After, from now. While
// the token is valid the step is shortened to half its remaining life,
// so that the refresh is tried again before it expires; Retry-After is
// never shortened, but is capped at maxRetryAfter. s.mu must be held.
func (s *Source) failLocked(err error) {
	now := s.clock()
	s.failures++
	d := s.backoff(s.failures)
	if e := s.cur.Load(); e != nil && e.tok != nil && !e.noExpiry && e.valid(now) {
		d = min(d, max(e.expireAt.Sub(now)/2, firstBackoff))
	}
	d = max(d, min(retryAfterOf(err), maxRetryAfter))
	s.lastErr, s.retryAt = err, now.Add(d)
}

// resetLocked clears the back-off after a success or a new token.
func (s *Source) resetLocked() {
	s.failures, s.lastErr, s.retryAt = 0, nil, time.Time{}
}

// scheduleLocked arms the timer for the next thing the current entry
// needs: the retry after a failure, a retried save, or the refresh before
// expiry. s.mu must be held.
func (s *Source) scheduleLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerGen++ // a timer that fired already but has not run yet is stale
	e := s.cur.Load()
	if s.closed || e == nil {
		return
	}
	now := s.clock()
	if e.tok == nil { // a login is required: callers get the error, recheck later
		s.failures, s.lastErr, s.retryAt = 0, e.err, now.Add(deadRecheck)
		return
	}
	background := s.cfg.RefreshBefore >= 0 && !e.noExpiry
	var at time.Time
	switch {
	case !s.retryAt.IsZero() && (background || e.unsaved):
		at = s.retryAt // a retry after a failed attempt or save
	case !s.retryAt.IsZero():
		return // no background refresh: callers retry once the back-off allows
	case background:
		at = e.staleAt
	default:
		return
	}
	s.timer = s.afterFunc(max(at.Sub(now), 0), s.timerGen)
}
