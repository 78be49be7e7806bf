package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Retry policy for temporary token-endpoint failures within one refresh.
const (
	maxAttempts   = 3
	firstRetry    = 250 * time.Millisecond
	maxRetryAfter = 30 * time.Second // a longer Retry-After fails the refresh at once
)

// refresh brings the Source to a fresh token other than rejected. It runs
// in a flight.
func (s *Source) refresh(r *run, rejected string) (*entry, error) {
	if e := s.cur.Load(); s.done(e, rejected) {
		return e, nil
	}
	var out *entry
	err := s.exclusive(r.ctx, func(context.Context) error {
		var err error
		out, err = s.refreshLocked(r, rejected)
		return err
	})
	return out, err
}

// done reports whether e already is what a refresh would produce.
func (s *Source) done(e *entry, rejected string) bool {
	return e != nil && e.tok != nil && !e.unsaved && e.fresh(s.clock()) && e.tok.AccessToken != rejected
}

// refreshLocked is the cross-process algorithm: reload, adopt a newer
// stored token if it is fresh, otherwise obtain a new one, save, publish.
// It runs holding the store's lock.
func (s *Source) refreshLocked(r *run, rejected string) (*entry, error) {
	cur := s.cur.Load()
	if s.done(cur, rejected) { // another writer finished while we waited for the lock
		return cur, nil
	}
	rec, err := s.newest(r, cur)
	if err != nil {
		return nil, err
	}
	if cur = s.cur.Load(); s.done(cur, rejected) { // a retried save was all it took
		return cur, nil
	}
	if rec == nil && s.cfg.Grant == GrantRefreshToken {
		if cur != nil && cur.err != nil {
			return nil, cur.err // keep the reason, e.g. the provider's error
		}
		return nil, s.dead(r, &LoginRequiredError{Reason: ReasonNoToken}, "")
	}
	if rec != nil {
		if cur != nil && cur.err != nil && rec.RefreshToken != "" && rec.RefreshToken == cur.deadRT {
			return nil, cur.err // still the refresh token we know is dead
		}
		// Adopt a record we do not hold yet (another process's, or the
		// first load) if it is fresh. The record we already hold is past
		// its refresh point: judging it afresh would find it "fresh" again,
		// as the lead is capped at half of what remains of its life.
		if e := s.newEntry(rec); !sameRecord(cur, rec) && e.fresh(s.clock()) && rec.AccessToken != rejected {
			if cur != nil && cur.rec != nil {
				r.add(s.eventFor(EventAdopted, rec, nil))
			}
			s.publish(e)
			return e, nil
		}
	}
	return s.obtain(r, rec, false)
}

// sameRecord reports whether rec is the record cur was made from.
func sameRecord(cur *entry, rec *storage.Token) bool {
	return cur != nil && cur.rec != nil && cur.rec.Version == rec.Version && cur.rec.AccessToken == rec.AccessToken
}

// newest returns the newest record: the stored one, or this Source's own
// when a save failed and the store lags behind; that one is saved again
// first, so no peer redeems the refresh token it replaced.
func (s *Source) newest(r *run, cur *entry) (*storage.Token, error) {
	stored, err := s.store.Load(r.ctx, s.cfg.Key)
	if errors.Is(err, storage.ErrNotFound) {
		stored, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokensource: load %q: %w", s.cfg.Key, err)
	}
	if cur == nil || !cur.unsaved || stored != nil && stored.Version >= cur.rec.Version {
		return stored, nil
	}
	if err := s.save(r.ctx, cur.rec); err != nil {
		r.add(s.eventFor(EventSaveFailed, cur.rec, err))
		return cur.rec, nil
	}
	saved := *cur
	saved.unsaved = false
	s.publish(&saved)
	r.add(s.eventFor(EventSaved, cur.rec, nil))
	return cur.rec, nil
}

// obtain gets a new token from the provider, saves it and publishes it.
// rec is the newest record (nil only with GrantClientCredentials).
func (s *Source) obtain(r *run, rec *storage.Token, reread bool) (*entry, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.cfg.Grant == GrantClientCredentials {
		if len(s.cfg.OAuth2.Scopes) > 0 {
			form.Set("scope", strings.Join(s.cfg.OAuth2.Scopes, " "))
		}
	} else {
		if err := s.checkLogin(rec); err != nil {
			return nil, s.dead(r, err, rec.RefreshToken)
		}
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}}
	}
	t, err := s.post(r, form)
	if err != nil {
		return s.failed(r, rec, err, reread)
	}
	n := merge(rec, t, versionOf(s.record()))
	if s.cfg.CheckRefresh != nil {
		// A panic counts as a refusal: the tokens were not vetted.
		if err := s.guard("CheckRefresh", func() error { return s.cfg.CheckRefresh(r.sent, rec.Clone(), n) }); err != nil {
			deadRT := ""
			if rec != nil {
				deadRT = rec.RefreshToken
				s.compareAndDelete(r.ctx, deadRT) // rotated away: it is dead either way
			}
			return nil, s.dead(r, &LoginRequiredError{Reason: ReasonCheckFailed, Err: err}, deadRT)
		}
	}
	e := s.newEntry(n)
	saveErr := s.save(r.sent, n) // even after Close: the old refresh token may be dead
	e.unsaved = saveErr != nil
	s.publish(e) // only now, after the save, do callers see the new token
	r.add(s.eventFor(EventRefreshed, n, nil))
	if rec != nil && n.RefreshToken != rec.RefreshToken {
		r.add(s.eventFor(EventRotated, n, nil))
	}
	if saveErr != nil {
		r.add(s.eventFor(EventSaveFailed, n, saveErr))
	}
	return e, nil
}

// failed handles a failed token request for rec.
func (s *Source) failed(r *run, rec *storage.Token, err error, reread bool) (*entry, error) {
	var te *Error
	login, del := false, false
	if errors.As(err, &te) {
		login, del = loginRequiredCode(te.Code)
	}
	if !login || rec == nil {
		r.add(s.eventFor(EventRefreshFailed, rec, err))
		return nil, err
	}
	// A peer may have rotated the token while our request was out, or the
	// response that carried our rotated token was lost: look once more.
	if !reread {
		if again, lerr := s.store.Load(r.ctx, s.cfg.Key); lerr == nil && again.RefreshToken != "" && again.RefreshToken != rec.RefreshToken {
			if e := s.newEntry(again); e.fresh(s.clock()) {
				s.publish(e)
				r.add(s.eventFor(EventAdopted, again, nil))
				return e, nil
			}
			return s.obtain(r, again, true)
		}
	}
	if del {
		s.compareAndDelete(r.ctx, rec.RefreshToken)
	}
	return nil, s.dead(r, &LoginRequiredError{Reason: ReasonRejected, Err: err}, rec.RefreshToken)
}

// compareAndDelete deletes the stored record if it still holds the dead
// refresh token rt; a newer token a peer saved is never deleted.
func (s *Source) compareAndDelete(ctx context.Context, rt string) {
	err := s.guard("Store.Load or Store.Delete", func() error {
		stored, err := s.store.Load(ctx, s.cfg.Key)
		if err != nil || stored.RefreshToken != rt {
			return nil
		}
		return s.store.Delete(ctx, s.cfg.Key)
	})
	if err != nil {
		s.log.Warn("tokensource: deleting the rejected token failed", slog.String("key", s.cfg.Key), slog.String("error", err.Error()))
	}
}

// dead publishes that a login is required and returns err.
func (s *Source) dead(r *run, err error, deadRT string) error {
	s.publish(deadEntry(err, deadRT))
	r.add(s.eventFor(EventLoginRequired, nil, err))
	return err
}

// checkLogin refuses to redeem rec when the session is over.
func (s *Source) checkLogin(rec *storage.Token) error {
	now := s.clock()
	switch {
	case s.cfg.MaxSessionAge > 0 && !rec.AuthTime.IsZero() && !now.Before(rec.AuthTime.Add(s.cfg.MaxSessionAge)):
		return &LoginRequiredError{Reason: ReasonSessionExpired}
	case rec.RefreshToken == "":
		return &LoginRequiredError{Reason: ReasonNoRefreshToken}
	case !rec.RefreshExpiry.IsZero() && !now.Before(rec.RefreshExpiry):
		return &LoginRequiredError{Reason: ReasonRefreshExpired}
	}
	return nil
}

// post sends the token request, retrying temporary failures with
// exponential backoff or the server's Retry-After, within r.ctx. A request
// is only sent while r.ctx lives, but runs on r.sent: Close does not cut
// off an answer that may carry a rotated refresh token.
func (s *Source) post(r *run, form url.Values) (*storage.Token, error) {
	ctx := r.ctx
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, &Error{Err: err, netFail: true}
		}
		t, err := exchange(r.sent, s.hc, s.cfg.OAuth2, form, s.clock())
		var te *Error
		if err == nil || !errors.As(err, &te) || !te.Temporary() || attempt == maxAttempts || ctx.Err() != nil {
			return t, err
		}
		d := firstRetry << (attempt - 1)
		d += rand.N(d / 2)
		d = max(d, te.RetryAfter)
		if deadline, ok := ctx.Deadline(); d > maxRetryAfter || ok && time.Until(deadline) < d {
			return nil, err
		}
		s.log.Debug("tokensource: retrying token request", slog.String("key", s.cfg.Key), slog.Int("attempt", attempt), slog.Duration("delay", d), slog.String("error", err.Error()))
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		}
	}
}

// merge makes the record to save from the newest record rec (nil when
// none) and the endpoint's answer t: what t lacks is kept from rec.
func merge(rec, t *storage.Token, memVersion uint64) *storage.Token {
	n := t.Clone()
	n.Version = max(versionOf(rec), memVersion) + 1
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

func (s *Source) save(ctx context.Context, rec *storage.Token) error {
	// A panic counts as a failed save: the token is kept and the save retried.
	if err := s.guard("Store.Save", func() error { return s.store.Save(ctx, s.cfg.Key, rec) }); err != nil {
		return fmt.Errorf("tokensource: save %q: %w", s.cfg.Key, err)
	}
	return nil
}

func (s *Source) eventFor(kind EventKind, rec *storage.Token, err error) Event {
	ev := Event{Kind: kind, Key: s.cfg.Key, Time: s.clock(), Err: err}
	if rec != nil {
		ev.Expiry = rec.Expiry
	}
	return ev
}
