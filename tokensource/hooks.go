package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// ErrReentrant is returned by a call that would wait for the refresh it
// is made from: TokenContext or RefreshRejected with the context that
// Config.CheckRefresh was given, when the token needs a refresh. Use the
// tokens CheckRefresh is passed instead.
var ErrReentrant = errors.New("tokensource: called from Config.CheckRefresh, which the refresh waits for")

// checkKey marks the context Config.CheckRefresh runs with. Its value is
// always nil for contexts of other Sources.
type checkKey struct{}

// withinCheck returns ctx marked as CheckRefresh's context of s.
func (s *Source) withinCheck(ctx context.Context) context.Context {
	return context.WithValue(ctx, checkKey{}, s)
}

// exclusive runs fn holding this Source's write semaphore and, when the
// store is a Locker or a LeaseLocker, the store's lock for the key. While
// fn runs, s.lease is that lock (nil without one). With unlocked, a lock
// that cannot be had does not stop fn: see Config.RefreshWithoutLock.
func (s *Source) exclusive(ctx context.Context, fn func(context.Context) error) error {
	return s.exclusiveOr(ctx, false, fn)
}

func (s *Source) exclusiveOr(ctx context.Context, unlocked bool, fn func(context.Context) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	lease, err := s.lock(ctx)
	switch {
	case err != nil && unlocked && ctx.Err() == nil:
		s.log.Warn("tokensource: refreshing without the store's lock (Config.RefreshWithoutLock)", slog.String("key", s.cfg.Key), slog.String("error", err.Error()))
	case err != nil:
		return &StoreError{Op: "lock", Key: s.cfg.Key, Err: err}
	case lease != nil:
		s.lease = lease
		defer func() {
			s.lease = nil
			if err := lease.Release(); err != nil {
				s.log.Warn("tokensource: unlock failed", slog.String("key", s.cfg.Key), slog.Any("error", err))
			}
		}()
	}
	return fn(ctx)
}

// lock takes the store's lock for the key: a lease from a LeaseLocker, a
// lock from a Locker (which lasts as long as its holder), or nil.
func (s *Source) lock(ctx context.Context) (storage.Lease, error) {
	switch l := s.store.(type) {
	case storage.LeaseLocker:
		return l.LockLease(ctx, s.cfg.Key)
	case storage.Locker:
		unlock, err := l.Lock(ctx, s.cfg.Key)
		if err != nil {
			return nil, err
		}
		return heldLock(unlock), nil
	}
	return nil, nil
}

// heldLock is the Lease of a Locker's lock, which does not expire while
// its holder lives (a file lock, an in-process lock).
type heldLock func() error

func (l heldLock) Keep(context.Context, time.Duration) error { return nil }
func (l heldLock) Release() error                            { return l() }

// emitAll logs events and passes them to Config.OnEvent, one event at a
// time and in order, recovering from a panic in the hook so that it
// cannot break a refresh. Its callers hold no lock and have released
// every waiter: a hook may call the Source.
func (s *Source) emitAll(events []Event) {
	if len(events) == 0 {
		return
	}
	s.hooks <- struct{}{}
	defer func() { <-s.hooks }()
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

// retryAfterOf is the delay the token endpoint asked for in err, 0 when
// none.
func retryAfterOf(err error) time.Duration {
	var te *Error
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// randN is rand.N that accepts 0: the default jitter.
func randN(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// jitter returns a random duration in [0, d): randN, or the function a
// test installed with setJitter for reproducible schedules.
func (s *Source) jitter(d time.Duration) time.Duration {
	if f := s.rnd.Load(); f != nil {
		return (*f)(d)
	}
	return randN(d)
}
