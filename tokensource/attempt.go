package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// This file holds one attempt's pieces: the token request, the pause
// before the next attempt, and the record it makes and saves.

// retry reports, after a failed token request, whether the refresh tries
// again: the failure is temporary, this was not the last of maxAttempts,
// and the scheduler's next step (back-off or the server's Retry-After)
// falls within the refresh's waiting budget. It then waits for that step,
// holding no lock, so that a login or a peer's refresh can go ahead; the
// next attempt reloads the store first.
func (s *Source) retry(r *run, err error, attempt int) bool {
	var te *Error
	if !r.counted || !errors.As(err, &te) || !te.Temporary() || attempt >= maxAttempts || r.ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	next := s.retryAt
	s.mu.Unlock()
	d := next.Sub(s.clock())
	if deadline, ok := r.ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	s.log.Debug("tokensource: retrying token request", slog.String("key", s.cfg.Key), slog.Int("attempt", attempt), slog.Duration("delay", d), slog.String("error", err.Error()))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// post sends one token request and reports a temporary failure to the
// scheduler, which decides when the next attempt may start. The request
// has its own budget (see run.answer). key, when not nil, binds the
// tokens with DPoP.
func (s *Source) post(r *run, form url.Values, key *DPoPKey) (*storage.Token, error) {
	r.counted = false
	if err := r.ctx.Err(); err != nil {
		return nil, &Error{Err: err, netFail: true}
	}
	if s.lease != nil {
		// The request must not leave if another process may hold the lock
		// by now: it may have redeemed this refresh token already.
		if err := s.lease.Keep(r.ctx, s.cfg.RefreshTimeout); err != nil {
			return nil, &Error{Err: fmt.Errorf("tokensource: lock %q before the token request: %w", s.cfg.Key, err), netFail: true}
		}
	}
	ctx, cancel := r.answer(s.cfg.RefreshTimeout)
	defer cancel()
	t, err := exchange(ctx, s.hc, s.cfg.OAuth2, s.cfg.ClientAuth, key, form, s.clock())
	var te *Error
	r.counted = err != nil && errors.As(err, &te) && te.Temporary()
	if r.counted {
		s.mu.Lock()
		s.failLocked(err)
		s.mu.Unlock()
	}
	return t, err
}

// merge makes the record to save from the newest record rec (nil when
// none) and the endpoint's answer t: what t lacks is kept from rec. Its
// Version is above rec's and above every version this Source has seen.
func merge(rec, t *storage.Token, seen uint64) *storage.Token {
	n := t.Clone()
	n.Version = max(versionOf(rec), seen) + 1
	if n.TokenType == "" {
		n.TokenType = "Bearer"
	}
	if rec == nil {
		return n
	}
	if n.RefreshToken == "" || n.RefreshToken == rec.RefreshToken {
		n.RefreshToken = rec.RefreshToken
		if n.RefreshExpiry.IsZero() {
			n.RefreshExpiry = rec.RefreshExpiry
		}
	}
	if n.IDToken == "" {
		n.IDToken = rec.IDToken // a refresh without an ID token keeps the previous one
	}
	if n.Scope == "" {
		n.Scope = rec.Scope
	}
	n.AuthTime = rec.AuthTime
	return n
}

// save saves rec. A save that reports an error may have written the
// record all the same (a file store whose directory fsync failed): it is
// read back, and a stored copy of rec counts as saved, so that the Source
// never takes a record that peers may already use for an unsaved one.
func (s *Source) save(ctx context.Context, rec *storage.Token) error {
	// A panic counts as a failed save: the token is kept and the save retried.
	err := s.guard("Store.Save", func() error { return s.store.Save(ctx, s.cfg.Key, rec) })
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrStale) {
		if again, lerr := s.load(ctx); lerr == nil && again != nil && again.Version == rec.Version && sameTokens(again, rec) {
			s.log.Warn("tokensource: the store reported a failed save but holds the record", slog.String("key", s.cfg.Key), slog.String("error", err.Error()))
			return nil
		}
	}
	return &StoreError{Op: "save", Key: s.cfg.Key, Err: err}
}

func (s *Source) eventFor(kind EventKind, rec *storage.Token, err error) Event {
	ev := Event{Kind: kind, Key: s.cfg.Key, Time: s.clock(), Err: err}
	if rec != nil {
		ev.Expiry = rec.Expiry
	}
	return ev
}
