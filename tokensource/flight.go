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

// join returns the running flight, or starts one. The flight runs on a
// context detached from ctx (its values are kept, its cancellation is not)
// and bounded by RefreshTimeout and Close (see run).
func (s *Source) join(ctx context.Context, rejected string) (*flight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if f := s.inflight; f != nil {
		return f, nil
	}
	f := &flight{done: make(chan struct{})}
	s.inflight = f // set before go: no second flight can start
	s.wg.Add(1)
	go s.fly(f, context.WithoutCancel(ctx), rejected)
	return f, nil
}

func (s *Source) fly(f *flight, parent context.Context, rejected string) {
	defer s.wg.Done()
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
	s.emitAll(r.events)
	s.mu.Lock()
	s.inflight = nil
	s.scheduleLocked(f)
	s.mu.Unlock()
	close(f.done)
}

// run is one refresh's working state, handed down the refresh path.
type run struct {
	// ctx ends with RefreshTimeout or Close: waiting for the lock, retry
	// delays and requests not yet sent stop at once when Close is called.
	ctx context.Context
	// sent ends only with RefreshTimeout. A token request already sent,
	// and the handling of its answer (CheckRefresh, the save), run on it:
	// the provider may have rotated the refresh token before answering,
	// and that answer must be saved, not dropped by Close.
	sent   context.Context
	events []Event // emitted by fly once every lock is released
	end    func()
}

func (s *Source) newRun(parent context.Context) *run {
	sent, cancelSent := context.WithTimeout(parent, s.cfg.RefreshTimeout)
	ctx, cancel := context.WithCancel(sent)
	stop := context.AfterFunc(s.closing, cancel)
	return &run{ctx: ctx, sent: sent, end: func() { stop(); cancel(); cancelSent() }}
}

func (r *run) add(ev Event) { r.events = append(r.events, ev) }

// kick starts one background refresh for the current entry, which is
// stale but valid. Called on the hot path: after the first call in the
// refresh window it costs one atomic load.
func (s *Source) kick() {
	if s.cfg.RefreshBefore < 0 || s.bg.Load() || !s.bg.CompareAndSwap(false, true) {
		return
	}
	s.join(context.Background(), "") // closed: nothing to do
}

// wake is the timer's callback: refresh early, or retry a failed refresh
// or save.
func (s *Source) wake() {
	s.bg.Store(true)
	s.join(context.Background(), "")
}

// scheduleLocked arms the timer for what the current entry needs next,
// after flight f (nil: after a write). s.mu must be held.
func (s *Source) scheduleLocked(f *flight) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	e := s.cur.Load()
	if s.closed || e == nil || e.tok == nil {
		return
	}
	now := s.clock()
	var d time.Duration
	switch {
	case f != nil && f.err != nil && e.valid(now), e.unsaved:
		// Retry a failed refresh while the token is still good, or a
		// failed save, with capped exponential backoff.
		s.failures++
		d = backoff(s.failures)
		if !e.noExpiry {
			d = min(d, max(e.expireAt.Sub(now)/2, 100*time.Millisecond))
		}
	case s.cfg.RefreshBefore < 0 || e.noExpiry:
		s.failures = 0
		return
	default:
		s.failures = 0
		d = e.staleAt.Sub(now)
	}
	s.timer = time.AfterFunc(max(d, 0), s.wake)
}

// backoff is the delay before retry n (1, 2, ...): 1 s doubling, at most
// a minute.
func backoff(n int) time.Duration {
	if n > 6 {
		return time.Minute
	}
	return min(time.Second<<(n-1), time.Minute)
}

// exclusive runs fn holding this Source's write semaphore and, when the
// store is a Locker, the store's lock for the key.
func (s *Source) exclusive(ctx context.Context, fn func(context.Context) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	if s.locker != nil {
		unlock, err := s.locker.Lock(ctx, s.cfg.Key)
		if err != nil {
			return fmt.Errorf("tokensource: lock %q: %w", s.cfg.Key, err)
		}
		defer func() {
			if err := unlock(); err != nil {
				s.log.Warn("tokensource: unlock failed", slog.String("key", s.cfg.Key), slog.Any("error", err))
			}
		}()
	}
	return fn(ctx)
}

// emitAll logs events and passes them to Config.OnEvent, recovering from
// a panic in the hook so that it cannot break a refresh.
func (s *Source) emitAll(events []Event) {
	for _, ev := range events {
		s.logEvent(ev)
		if s.cfg.OnEvent != nil {
			s.callHook(ev)
		}
	}
}

func (s *Source) callHook(ev Event) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("tokensource: OnEvent panicked", slog.String("key", ev.Key), slog.String("event", ev.Kind.String()), slog.String("panic", fmt.Sprintf("%T", r)))
		}
	}()
	s.cfg.OnEvent(ev)
}

func (s *Source) logEvent(ev Event) {
	attrs := []slog.Attr{slog.String("key", ev.Key), slog.String("event", ev.Kind.String())}
	if !ev.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", ev.Expiry))
	}
	level := slog.LevelDebug
	switch ev.Kind {
	case EventRefreshFailed, EventLoginRequired:
		level = slog.LevelWarn
	case EventSaveFailed:
		level = slog.LevelError
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	s.log.LogAttrs(context.Background(), level, "tokensource: "+ev.Kind.String(), attrs...)
}
