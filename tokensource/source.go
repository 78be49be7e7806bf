package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Source is an [oauth2.TokenSource] that keeps one account's access token
// fresh; see the package documentation. Create it with [New] and stop it
// with Close.
//
// A Source is safe for concurrent use. The *oauth2.Token values it returns
// are shared between callers and must not be modified; they carry no
// refresh token.
type Source struct {
	cfg   Config // as given to New, with defaults applied; never modified
	store storage.Store
	hc    *http.Client
	log   *slog.Logger
	now   func() time.Time // nil: time.Now, called directly on the hot path

	cur atomic.Pointer[entry] // what callers get; nil until first loaded
	bg  atomic.Bool           // a background refresh was started for cur

	// dpop is the DPoP key of the newest record that had one (or the key
	// made for Config.DPoP), parsed once and kept for its nonce memory.
	dpop atomic.Pointer[DPoPKey]

	sem   chan struct{} // held while refreshing or writing: one at a time per Source
	lease storage.Lease // the store's lock while sem is held and the store has one; guarded by sem

	mu       sync.Mutex  // guards the fields below
	inflight *flight     // the running refresh, nil when none
	timer    *time.Timer // the next background refresh or retry, nil when none
	timerGen uint64      // counts arms and stops of timer: a callback of an older one does nothing
	failures int         // consecutive failed attempts or saves: the back-off step
	retryAt  time.Time   // no attempt before this, after a failure; zero: none pending
	lastErr  error       // the last attempt's error, returned until retryAt; nil: none
	closed   bool

	// hooks is held while events are logged and passed to Config.OnEvent,
	// one refresh's events after another's. A channel, not a mutex, so
	// that waiting for it is a durable block under testing/synctest.
	hooks chan struct{}

	rnd atomic.Pointer[func(time.Duration) time.Duration] // tests' jitter; nil: randN

	closing context.Context // done when Close is called; ends every refresh
	stop    context.CancelFunc
	wg      sync.WaitGroup // running refresh goroutines
	// emitting counts refreshes whose events are being delivered; it is
	// raised before their waiters are released, so a test can wait for
	// the events of the call that just returned. (A WaitGroup would not
	// do: a background refresh may Add while a test Waits.)
	emitting atomic.Int32
}

// New returns a Source for cfg. It does no I/O: the stored token is read by
// the first call that needs it.
func New(cfg Config) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	oc := *cfg.OAuth2 // copy: the caller's Config may change later
	cfg.OAuth2 = &oc
	if cfg.ClientAuth != nil {
		ca := *cfg.ClientAuth // the Signer is shared, the rest copied
		cfg.ClientAuth = &ca
	}
	if cfg.Key == "" {
		cfg.Key = DefaultKey
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.RefreshTimeout == 0 {
		cfg.RefreshTimeout = DefaultRefreshTimeout
	}
	s := &Source{cfg: cfg, store: cfg.Store, hc: noRedirects(cfg.HTTPClient), log: cfg.Logger, now: cfg.Now, sem: make(chan struct{}, 1), hooks: make(chan struct{}, 1)}
	if s.store == nil {
		s.store = storage.NewMemory()
	}
	if s.log == nil {
		s.log = discard
	}
	s.closing, s.stop = context.WithCancel(context.Background())
	return s, nil
}

func (s *Source) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Token returns a valid access token; see [Source.TokenContext].
func (s *Source) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext returns a valid access token.
//
// While the cached token is fresh it returns at once, without locking,
// allocating or doing I/O. Once the token is within Config.RefreshBefore
// of expiry it is still returned at once while one background refresh
// runs. Only when there is no valid token does TokenContext wait for a
// refresh, which all concurrent callers share; if ctx ends first,
// TokenContext returns ctx.Err() and the refresh goes on for the others.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if e := s.cur.Load(); e != nil && e.tok != nil {
		var now time.Time
		if s.now == nil {
			now = time.Now()
		} else {
			now = s.now()
		}
		if now.Before(e.staleAt) && now.UnixNano() < e.staleWall { // e.fresh(now), inlined
			return e.tok, nil
		}
		if e.valid(now) {
			s.kick()
			return e.tok, nil
		}
	}
	return s.wait(ctx, "")
}

// RefreshRejected returns a token to use instead of rejected, which a
// resource server refused (HTTP 401 with error="invalid_token"). It
// refreshes only if rejected is still the current token, so a burst of
// rejections of one token makes one refresh. It implements
// transport.Refresher.
func (s *Source) RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	if rejected == nil || rejected.AccessToken == "" {
		return s.TokenContext(ctx)
	}
	if e := s.cur.Load(); e != nil && e.tok != nil && e.tok.AccessToken != rejected.AccessToken && e.valid(s.clock()) {
		return e.tok, nil
	}
	tok, err := s.wait(ctx, rejected.AccessToken)
	if err == nil && tok.AccessToken == rejected.AccessToken {
		// We joined a refresh that was not about rejected: ask once more.
		tok, err = s.wait(ctx, rejected.AccessToken)
	}
	return tok, err
}

// wait starts or joins the refresh and waits for it or for ctx.
func (s *Source) wait(ctx context.Context, rejected string) (*oauth2.Token, error) {
	if ctx.Value(checkKey{}) == s {
		return nil, ErrReentrant
	}
	f, err := s.join(ctx, rejected, byCaller)
	if err != nil {
		return nil, err
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err == nil {
		return f.e.tok, nil
	}
	// The refresh failed; a token that is still valid beats an error.
	if e := s.cur.Load(); e != nil && e.tok != nil && e.tok.AccessToken != rejected && e.valid(s.clock()) {
		return e.tok, nil
	}
	return nil, f.err
}

// Current returns a copy of the account's current record, read from the
// store if this Source has not loaded it yet. It never refreshes. It
// returns an error matching [ErrLoginRequired] when there is no record.
func (s *Source) Current(ctx context.Context) (*storage.Token, error) {
	if e := s.cur.Load(); e != nil {
		if e.rec != nil {
			return e.rec.Clone(), nil
		}
		if e.err != nil {
			return nil, e.err
		}
	}
	rec, err := s.store.Load(ctx, s.cfg.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &LoginRequiredError{Reason: ReasonNoToken}
	}
	if err != nil {
		return nil, &StoreError{Op: "load", Key: s.cfg.Key, Err: err}
	}
	return rec, nil
}

// SetToken stores t as the account's newest record, as after an
// interactive login, and serves it from now on. Its Version is set above
// the stored record's and every version this Source has seen, and at
// least the current time in Unix microseconds, so that a login saved by
// one process outranks records of an earlier login that other processes
// still hold in memory. If saving fails, or the store's lock cannot be
// had before ctx ends, t is still served and the save is retried, and
// SetToken returns the error.
func (s *Source) SetToken(ctx context.Context, t *storage.Token) error {
	if t == nil || t.AccessToken == "" && t.RefreshToken == "" {
		return errors.New("tokensource: SetToken: a token needs an access token or a refresh token")
	}
	var events []Event
	ran := false
	err := s.exclusive(ctx, func(ctx context.Context) error {
		ran = true
		stored, err := s.load(ctx)
		if err != nil {
			return err
		}
		rec := s.loginRecord(t, versionOf(stored))
		e := s.newEntry(rec)
		if err = s.save(ctx, rec); err != nil {
			e.unsaved = true
			events = append(events, s.eventFor(EventSaveFailed, rec, err))
		}
		s.publish(e)
		return err
	})
	if !ran {
		// The lock could not be had: serve the login all the same, and
		// save it, under the lock, with the next retry.
		rec := s.loginRecord(t, 0)
		e := s.newEntry(rec)
		e.unsaved = true
		s.publish(e)
		events = append(events, s.eventFor(EventSaveFailed, rec, err))
	}
	s.mu.Lock()
	s.resetLocked()
	s.scheduleLocked()
	s.mu.Unlock()
	s.emitAll(events)
	return err
}

// loginRecord is a copy of t at a Version above stored, above every
// version s has seen, and at least the current time in microseconds.
func (s *Source) loginRecord(t *storage.Token, stored uint64) *storage.Token {
	rec := t.Clone()
	rec.Version = max(stored, s.version()) + 1
	if now := s.clock().UnixMicro(); now > 0 {
		rec.Version = max(rec.Version, uint64(now))
	}
	return rec
}

// Forget deletes the account's record from the store and from memory;
// afterwards every call fails with [ErrLoginRequired] (ReasonLoggedOut)
// until a new token is set or stored. It does not revoke anything at the
// provider (package client's Logout does).
func (s *Source) Forget(ctx context.Context) error {
	err := s.exclusive(ctx, func(ctx context.Context) error {
		rec := s.record()
		err := s.store.Delete(ctx, s.cfg.Key)
		if err == nil || rec != nil {
			// Even if the delete failed, this Source never uses rec again.
			s.publish(deadEntry(&LoginRequiredError{Reason: ReasonLoggedOut}, rec, s.version()))
		}
		if err != nil {
			return &StoreError{Op: "delete", Key: s.cfg.Key, Err: err}
		}
		return nil
	})
	s.mu.Lock()
	s.resetLocked()
	s.scheduleLocked()
	s.mu.Unlock()
	return err
}

// Close stops background refreshes and ends any refresh in progress, then
// waits for them to return. A token request already sent is not ended:
// Close waits for its answer (at most RefreshTimeout) and saves it, since
// the provider may already have rotated the refresh token it redeemed.
// If the newest token could not be saved yet, Close tries once more, for
// at most RefreshTimeout, holding the store's lock, and only if the store
// holds nothing newer and the account was not forgotten. A cached token
// that is still fresh is still returned after Close; anything that needs
// a refresh fails with [ErrClosed]. Close is idempotent.
//
// Close does not wait for Config.OnEvent calls in progress, so that a
// hook may call Close; no event of a refresh is delivered after Close
// returns except those already being delivered.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	if e := s.cur.Load(); e == nil || !e.unsaved {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RefreshTimeout)
	defer cancel()
	var events []Event
	err := s.exclusive(ctx, func(ctx context.Context) error {
		e := s.cur.Load() // again, under the lock: Forget may have run
		if e == nil || !e.unsaved {
			return nil
		}
		stored, err := s.load(ctx)
		if err != nil || stored != nil && stored.Version >= e.rec.Version {
			return err
		}
		if err := s.save(ctx, e.rec); err != nil && !errors.Is(err, storage.ErrStale) {
			events = append(events, s.eventFor(EventSaveFailed, e.rec, err))
			return err
		}
		return nil
	})
	s.emitAll(events)
	return err
}

// isClosed reports whether Close was called.
func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// record returns the current record, nil when none.
func (s *Source) record() *storage.Token {
	if e := s.cur.Load(); e != nil {
		return e.rec
	}
	return nil
}

// version is the highest Version this Source has seen.
func (s *Source) version() uint64 { return s.cur.Load().version() }

// afterFunc arms a timer that wakes s after d, unless s armed another
// since (gen). The timer holds s weakly: a Source the program dropped
// without Close is collected, and its timer then does nothing.
func (s *Source) afterFunc(d time.Duration, gen uint64) *time.Timer {
	w := weak.Make(s)
	return time.AfterFunc(d, func() {
		if s := w.Value(); s != nil {
			s.wake(gen)
		}
	})
}

// wake is the timer's callback: refresh early, or retry a failed refresh
// or save. A timer replaced after it fired (gen is stale) does nothing.
func (s *Source) wake(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.timerGen {
		return
	}
	s.bg.Store(true)
	s.joinLocked(context.Background(), "", byTimer) // closed: nothing to do
}

func versionOf(t *storage.Token) uint64 {
	if t == nil {
		return 0
	}
	return t.Version
}

// publish makes e what callers get.
func (s *Source) publish(e *entry) {
	s.cur.Store(e)
	s.bg.Store(false)
}

func (s *Source) newEntry(rec *storage.Token) *entry {
	var end time.Time
	if s.cfg.MaxSessionAge > 0 && !rec.AuthTime.IsZero() {
		end = rec.AuthTime.Add(s.cfg.MaxSessionAge)
	}
	return newEntry(rec, s.clock(), s.cfg.RefreshBefore, end, s.jitter)
}
