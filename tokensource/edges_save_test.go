package tokensource

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// The edges issue's defects that concern saving: a failing save, Close,
// and the Versions a Source adopts (see edges_test.go).

// failingSaves is a store whose saves fail while failing is set.
type failingSaves struct {
	*storage.Memory
	failing atomic.Bool
	saves   atomic.Int32
}

func (s *failingSaves) Save(ctx context.Context, key string, t *storage.Token) error {
	s.saves.Add(1)
	if s.failing.Load() {
		return errDiskFull
	}
	return s.Memory.Save(ctx, key, t)
}

// Defect 3: while saves fail, the save is retried on the back-off
// schedule, and a retry never refreshes a token that is still fresh.
func TestSaveRetryNeverRefreshesAFreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		store := &failingSaves{Memory: storage.NewMemory()}
		src := simSource(t, p, store, expiredLogin(p))
		store.failing.Store(true)
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		if n := p.requests(); n != 1 {
			t.Errorf("got %d token requests while the save kept failing, want 1", n)
		}
		if n := store.saves.Load(); n < 5 || n > 25 {
			t.Errorf("got %d save attempts in 10 minutes, want a retry per back-off step", n)
		}
		store.failing.Store(false)
		time.Sleep(2 * time.Minute)
		if rec, _ := store.Load(context.Background(), "acct"); rec.Version != 2 {
			t.Errorf("stored %v, want the refreshed record saved at version 2", rec)
		}
	})
}

// Defect 4: Close persists an unsaved record only when the store holds
// nothing newer, never after Forget; and a Source never adopts a lower
// Version.
func TestCloseNeverWritesAnOlderRecord(t *testing.T) {
	unsaved := func(t *testing.T) (*simProvider, *failingSaves, *Source) {
		p := newSimProvider(time.Hour)
		store := &failingSaves{Memory: storage.NewMemory()}
		src := simSource(t, p, store, expiredLogin(p))
		store.failing.Store(true)
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		return p, store, src
	}
	t.Run("a newer record is stored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, store, src := unsaved(t)
			newer := p.login()
			newer.Version = 1 << 60
			store.Memory.Save(context.Background(), "acct", newer)
			store.failing.Store(false)
			src.Close()
			if rec, _ := store.Load(context.Background(), "acct"); rec.RefreshToken != newer.RefreshToken {
				t.Errorf("after Close the store holds %v, want the newer record", rec)
			}
		})
	})
	t.Run("Forget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, store, src := unsaved(t)
			if err := src.Forget(context.Background()); err != nil {
				t.Fatal(err)
			}
			store.failing.Store(false)
			src.Close()
			if rec, err := store.Load(context.Background(), "acct"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("after Forget and Close the store holds %v, want nothing", rec)
			}
		})
	})
	t.Run("a lower Version is never adopted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newSimProvider(time.Minute)
			store := storage.NewMemory()
			rec := p.login()
			rec.Version = 10
			src := simSource(t, p, store, rec)
			if _, err := src.Token(); err != nil {
				t.Fatal(err)
			}
			old := p.login() // restored from a backup: a lower Version, a fresh token
			old.Version = 5
			old.Expiry = time.Now().Add(time.Hour)
			store.Delete(context.Background(), "acct")
			store.Save(context.Background(), "acct", old)
			tok, err := src.RefreshRejected(context.Background(), &oauth2.Token{AccessToken: rec.AccessToken})
			if err != nil || tok.AccessToken == old.AccessToken {
				t.Errorf("got %v, %v; want a refresh of the Source's own record, not the lower stored one", tok, err)
			}
		})
	})
}

// writesButFails is a Memory whose next Save writes the record and then
// reports an error, as a file store whose directory fsync failed does.
type writesButFails struct {
	*storage.Memory
	once  atomic.Bool
	saves atomic.Int32
}

func (s *writesButFails) Save(ctx context.Context, key string, t *storage.Token) error {
	s.saves.Add(1)
	if err := s.Memory.Save(ctx, key, t); err != nil {
		return err
	}
	if s.once.CompareAndSwap(true, false) {
		return errDiskFull
	}
	return nil
}

// A save that wrote the record but reported an error counts as saved: it
// is read back at once. A Source that took it for unsaved would try it
// again into the fenced store's ErrStale, or, after a peer's logout,
// write it back.
func TestSaveThatWroteCountsAsSaved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		store := &writesButFails{Memory: storage.NewMemory()}
		var failed atomic.Int32
		src := simSource(t, p, store, expiredLogin(p), func(c *Config) {
			c.OnEvent = func(ev Event) {
				if ev.Kind == EventSaveFailed {
					failed.Add(1)
				}
			}
		})
		store.once.Store(true)
		store.saves.Store(0)
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		if n := store.saves.Load(); n != 1 || failed.Load() != 0 || src.cur.Load().unsaved {
			t.Errorf("got %d saves, %d save-failed events, unsaved %v; want 1, 0 and false", n, failed.Load(), src.cur.Load().unsaved)
		}
		if n := p.requests(); n != 1 {
			t.Errorf("got %d token requests, want 1", n)
		}
	})
}
