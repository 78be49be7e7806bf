package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// maxAttempts is how many token requests one refresh makes for temporary
// failures, one per back-off step, while its waiting budget lasts; the
// scheduler's timer takes over after that.
const maxAttempts = 3

// refresh brings the Source to a fresh token other than rejected. It runs
// in a flight.
func (s *Source) refresh(r *run, rejected string) (*entry, error) {
	cur := s.cur.Load()
	if s.done(cur, rejected) {
		return cur, nil
	}
	if cur != nil && cur.err != nil && s.cfg.Grant == GrantRefreshToken {
		// A login is required. Look, without the lock, whether one was
		// stored since: a Load at most once per deadRecheck.
		rec, err := s.load(r.ctx)
		if err != nil || rec == nil || cur.isDead(rec) {
			return nil, cur.err
		}
	}
	for attempt := 1; ; attempt++ {
		var out *entry
		err := s.exclusiveOr(r.ctx, s.cfg.RefreshWithoutLock, func(context.Context) error {
			var err error
			out, err = s.refreshLocked(r, rejected)
			return err
		})
		if err == nil || errors.Is(err, ErrLoginRequired) {
			return out, err
		}
		if !s.retry(r, err, attempt) {
			// One event for the refresh, however many attempts it made.
			r.add(s.eventFor(EventRefreshFailed, s.record(), err))
			return out, err
		}
	}
}

// done reports whether e already is what a refresh would produce.
func (s *Source) done(e *entry, rejected string) bool {
	return e != nil && !e.unsaved && e.usable(s.clock(), rejected)
}

// refreshLocked is the cross-process algorithm, run holding the store's
// lock: reload; save this Source's record if a save failed and the store
// has nothing newer; adopt a newer stored record; and only if the result
// is not fresh, redeem the newest refresh token, save, publish.
func (s *Source) refreshLocked(r *run, rejected string) (*entry, error) {
	cur := s.cur.Load()
	if s.done(cur, rejected) { // another writer finished while we waited
		return cur, nil
	}
	stored, err := s.load(r.ctx)
	if err != nil && s.lease == nil && s.cfg.RefreshWithoutLock && cur != nil && cur.rec != nil {
		// The shared store cannot be reached: refresh from memory, as the
		// caller chose (Config.RefreshWithoutLock), and save later.
		stored, err = cur.rec, nil
	}
	if err != nil {
		return nil, err
	}
	stored = s.persistLocked(r, stored)
	cur = s.cur.Load()
	if cur != nil && cur.err != nil {
		if stored == nil && s.cfg.Grant == GrantRefreshToken || stored != nil && cur.isDead(stored) {
			return nil, cur.err // keep the reason, e.g. the provider's error
		}
	}
	if stored == nil && cur != nil && cur.rec != nil && !cur.unsaved && s.cfg.Grant == GrantRefreshToken {
		// The record this Source loaded or saved is gone: the account was
		// forgotten, here or by another process. Never resurrect it.
		return nil, s.dead(r, &LoginRequiredError{Reason: ReasonLoggedOut}, cur.rec)
	}
	if stored != nil && cur.olderThan(stored) {
		e := s.newEntry(stored)
		if cur != nil && cur.rec != nil {
			r.add(s.eventFor(EventAdopted, stored, nil))
		}
		s.publish(e)
		cur = e
	}
	if cur != nil && cur.usable(s.clock(), rejected) {
		return cur, nil // fresh: a retried save, or an adopted record, was all it took
	}
	var rec *storage.Token
	if cur != nil {
		rec = cur.rec
	}
	if rec == nil && s.cfg.Grant == GrantRefreshToken {
		return nil, s.dead(r, &LoginRequiredError{Reason: ReasonNoToken}, nil)
	}
	return s.obtain(r, rec, false)
}

// persistLocked saves the current record if an earlier save of it failed
// and the store has nothing newer, and returns what the store now holds.
// If the store moved past the unsaved record (a peer saved after it, or
// at the same Version with other tokens), the store wins: the caller
// adopts the stored record. If the store holds the record itself (a save
// that reported an error had written it), it is marked saved.
func (s *Source) persistLocked(r *run, stored *storage.Token) *storage.Token {
	cur := s.cur.Load()
	if cur == nil || !cur.unsaved {
		return stored
	}
	if stored == nil || stored.Version < cur.rec.Version {
		err := s.save(r.ctx, cur.rec)
		if err == nil {
			s.markSaved(r, cur)
			return cur.rec
		}
		again, lerr := s.load(r.ctx)
		if !errors.Is(err, storage.ErrStale) || lerr != nil || again == nil {
			r.add(s.eventFor(EventSaveFailed, cur.rec, err))
			return stored
		}
		stored = again
	}
	if stored.Version == cur.rec.Version && sameTokens(stored, cur.rec) {
		s.markSaved(r, cur)
	}
	return stored
}

// markSaved publishes cur, whose record the store now holds, as saved.
func (s *Source) markSaved(r *run, cur *entry) {
	saved := *cur
	saved.unsaved = false
	s.publish(&saved)
	r.add(s.eventFor(EventSaved, cur.rec, nil))
}

// sameTokens reports whether a and b carry the same tokens.
func sameTokens(a, b *storage.Token) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// load returns the stored record, nil when there is none.
func (s *Source) load(ctx context.Context) (*storage.Token, error) {
	rec, err := s.store.Load(ctx, s.cfg.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &StoreError{Op: "load", Key: s.cfg.Key, Err: err}
	}
	return rec, nil
}

// obtain gets a new token from the provider, saves it and publishes it.
// rec is the newest record (nil only with GrantClientCredentials).
// reread is set when obtain runs again for a record found after the
// provider rejected the previous one.
func (s *Source) obtain(r *run, rec *storage.Token, reread bool) (*entry, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.cfg.Grant == GrantClientCredentials {
		if len(s.cfg.OAuth2.Scopes) > 0 {
			form.Set("scope", strings.Join(s.cfg.OAuth2.Scopes, " "))
		}
	} else {
		if err := s.checkLogin(rec); err != nil {
			return nil, s.dead(r, err, rec)
		}
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}}
	}
	key, err := s.keyFor(rec)
	if err != nil {
		return nil, err
	}
	t, err := s.post(r, form, key)
	// The answer has a budget of its own: the provider may have rotated
	// the refresh token, and that must be saved, whoever is still waiting.
	ctx, cancel := r.answer(s.cfg.RefreshTimeout)
	defer cancel()
	if err != nil {
		return s.failed(r, ctx, rec, err, reread)
	}
	n := merge(rec, t, s.version())
	if s.cfg.CheckRefresh != nil {
		// A panic counts as a refusal: the tokens were not vetted.
		if err := s.guard("CheckRefresh", func() error { return s.cfg.CheckRefresh(s.withinCheck(ctx), rec.Clone(), n) }); err != nil {
			if rec != nil {
				s.compareAndDelete(ctx, rec) // rotated away: it is dead either way
			}
			return nil, s.dead(r, &LoginRequiredError{Reason: ReasonCheckFailed, Err: err}, rec)
		}
	}
	return s.store1(r, ctx, rec, n, EventRefreshed)
}

// store1 saves n, the successor of rec, and publishes it: only after the
// save do callers see it. kind is the event to report besides
// EventRotated (0: none).
func (s *Source) store1(r *run, ctx context.Context, rec, n *storage.Token, kind EventKind) (*entry, error) {
	e := s.newEntry(n)
	saveErr := s.save(ctx, n)
	if errors.Is(saveErr, storage.ErrStale) {
		// A writer that did not hold the lock saved a newer record. The
		// store is what every peer uses: adopt it, never overwrite it.
		if stored, err := s.load(ctx); err == nil && stored != nil {
			s.log.Warn("tokensource: a newer record was saved while refreshing; adopting it", slog.String("key", s.cfg.Key))
			a := s.newEntry(stored)
			s.publish(a)
			r.add(s.eventFor(EventAdopted, stored, nil))
			return a, nil
		}
	}
	e.unsaved = saveErr != nil
	s.publish(e)
	if kind != 0 {
		r.add(s.eventFor(kind, n, nil))
	}
	if rec != nil && n.RefreshToken != rec.RefreshToken {
		r.add(s.eventFor(EventRotated, n, nil))
	}
	if saveErr != nil {
		r.add(s.eventFor(EventSaveFailed, n, saveErr))
	}
	return e, nil
}

// failed handles a failed token request for rec.
func (s *Source) failed(r *run, ctx context.Context, rec *storage.Token, err error, reread bool) (*entry, error) {
	var te *Error
	if !errors.As(err, &te) || rec == nil {
		return nil, err
	}
	if te.rotated != "" && te.rotated != rec.RefreshToken {
		// The provider rotated the refresh token in an answer refused for
		// another reason: the old one is dead now, keep the new one.
		n := rec.Clone()
		n.RefreshToken, n.RefreshExpiry = te.rotated, te.rotatedExpiry
		n.Version = max(rec.Version, s.version()) + 1
		if _, serr := s.store1(r, ctx, rec, n, 0); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	if !te.loginRequired(s.cfg.Grant) {
		return nil, err
	}
	// A peer may have rotated the token while our request was out, or the
	// response that carried our rotated token was lost: look once more,
	// for a newer record only (an older one carries a token we redeemed).
	if !reread {
		if again, lerr := s.load(ctx); lerr == nil && again != nil && again.Version > rec.Version {
			if e := s.newEntry(again); e.fresh(s.clock()) {
				s.publish(e)
				r.add(s.eventFor(EventAdopted, again, nil))
				return e, nil
			}
			if again.RefreshToken != "" && again.RefreshToken != rec.RefreshToken {
				return s.obtain(r, again, true)
			}
		}
	}
	s.compareAndDelete(ctx, rec)
	return nil, s.dead(r, &LoginRequiredError{Reason: ReasonRejected, Err: err}, rec)
}

// compareAndDelete deletes the stored record if it still is dead: the
// same refresh token at the same Version. A newer record a peer saved,
// even one carrying the same refresh token, is never deleted.
func (s *Source) compareAndDelete(ctx context.Context, dead *storage.Token) {
	err := s.guard("Store.Load or Store.Delete", func() error {
		stored, err := s.store.Load(ctx, s.cfg.Key)
		if err != nil || stored.RefreshToken != dead.RefreshToken || stored.Version != dead.Version {
			return nil
		}
		return s.store.Delete(ctx, s.cfg.Key)
	})
	if err != nil {
		s.log.Warn("tokensource: deleting the rejected token failed", slog.String("key", s.cfg.Key), slog.String("error", err.Error()))
	}
}

// dead publishes that a login is required and returns err. rec is the
// record whose refresh token is dead (nil when none).
func (s *Source) dead(r *run, err error, rec *storage.Token) error {
	s.publish(deadEntry(err, rec, s.version()))
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
