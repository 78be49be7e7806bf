package tokensource

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// leaseStore is a Memory whose lock is a lease that the test can make
// lose, and whose lock and reads can fail as an unreachable shared store's
// do.
type leaseStore struct {
	*storage.Memory
	lose        atomic.Int32 // Keep calls left that report the lease lost
	keeps       atomic.Int32
	unreachable atomic.Bool
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

type testLease struct {
	s       *leaseStore
	release func() error
}

func (l testLease) Keep(ctx context.Context, d time.Duration) error {
	l.s.keeps.Add(1)
	if l.s.lose.Add(-1) >= 0 {
		return fmt.Errorf("lease of %q: %w", "acct", storage.ErrLeaseLost)
	}
	return nil
}

func (l testLease) Release() error { return l.release() }

func (s *leaseStore) LockLease(ctx context.Context, key string) (storage.Lease, error) {
	if s.unreachable.Load() {
		return nil, errUnreachable
	}
	unlock, err := s.Memory.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	return testLease{s, unlock}, nil
}

func (s *leaseStore) Load(ctx context.Context, key string) (*storage.Token, error) {
	if s.unreachable.Load() {
		return nil, errUnreachable
	}
	return s.Memory.Load(ctx, key)
}

func (s *leaseStore) Save(ctx context.Context, key string, t *storage.Token) error {
	if s.unreachable.Load() {
		return errUnreachable
	}
	return s.Memory.Save(ctx, key, t)
}

// A holder whose lease was lost (a pause past its lifetime) does not send
// its refresh token: the attempt fails as temporary, and the next one
// re-reads under a new lease and adopts what the new holder saved.
func TestLostLeaseSendsNoRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		store := &leaseStore{Memory: storage.NewMemory()}
		store.lose.Store(1)
		src := simSource(t, p, store, expiredLogin(p))
		_, err := src.Token()
		var te *Error
		if !errors.As(err, &te) || !te.Temporary() || !errors.Is(err, storage.ErrLeaseLost) {
			t.Fatalf("got %v, want a temporary *Error wrapping ErrLeaseLost", err)
		}
		if n := p.requests(); n != 0 {
			t.Fatalf("got %d token requests with a lost lease, want 0", n)
		}
		// Meanwhile the new holder refreshed and saved.
		newer := p.login()
		newer.Version = 1 << 60
		store.Memory.Save(context.Background(), "acct", newer)
		time.Sleep(time.Second) // the back-off step
		tok, err := src.Token()
		if err != nil || tok.AccessToken != newer.AccessToken {
			t.Fatalf("got %v, %v; want the record the new holder saved", tok, err)
		}
		if n := p.requests(); n != 0 {
			t.Errorf("got %d token requests, want 0: the stored record was fresh", n)
		}
	})
}

// Every token request is preceded by a Keep of the lease.
func TestLeaseKeptBeforeEveryRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Minute)
		store := &leaseStore{Memory: storage.NewMemory()}
		src := simSource(t, p, store, expiredLogin(p))
		for range 3 {
			if _, err := src.Token(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Minute)
		}
		if k, n := store.keeps.Load(), p.requests(); n == 0 || int(k) != n {
			t.Errorf("got %d Keep calls for %d token requests, want one each", k, n)
		}
	})
}

// While the shared store is unreachable, a Source serves its valid token,
// does not refresh without the lock, and reports a temporary error once
// the token expired; it recovers by itself. With RefreshWithoutLock it
// refreshes from memory and saves once the store is back.
func TestUnreachableStore(t *testing.T) {
	for _, without := range []bool{false, true} {
		t.Run(fmt.Sprintf("RefreshWithoutLock=%v", without), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newSimProvider(time.Minute)
				store := &leaseStore{Memory: storage.NewMemory()}
				src := simSource(t, p, store, expiredLogin(p), func(c *Config) { c.RefreshWithoutLock = without; c.RefreshBefore = -1 })
				first, err := src.Token()
				if err != nil {
					t.Fatal(err)
				}
				store.unreachable.Store(true)
				if tok, err := src.Token(); err != nil || tok.AccessToken != first.AccessToken {
					t.Fatalf("got %v, %v while the token is valid, want it", tok, err)
				}
				time.Sleep(2 * time.Minute) // expired
				tok, err := src.Token()
				if !without {
					var se *StoreError
					if !errors.As(err, &se) || !se.Temporary() || !errors.Is(err, errUnreachable) || errors.Is(err, ErrLoginRequired) {
						t.Fatalf("got %v, %v without the lock, want a temporary *StoreError wrapping the store's error", tok, err)
					}
					if n := p.requests(); n != 1 {
						t.Fatalf("got %d token requests without the lock, want 1 (the first refresh)", n)
					}
				} else if err != nil || tok.AccessToken == first.AccessToken {
					t.Fatalf("got %v, %v; want a refresh from memory", tok, err)
				}
				store.unreachable.Store(false)
				time.Sleep(2 * time.Minute) // the back-off, then the retried save
				if _, err := src.Token(); err != nil {
					t.Fatalf("after the store came back got %v, want a token", err)
				}
				rec, _ := store.Memory.Load(context.Background(), "acct")
				if cur, _ := src.Current(context.Background()); rec.RefreshToken != cur.RefreshToken {
					t.Errorf("stored %s, want the Source's newest refresh token %s", rec.RefreshToken, cur.RefreshToken)
				}
			})
		})
	}
}

// A store whose record cannot be used (here: corrupt) gives a *StoreError
// that is not temporary: someone must act; waiting will not help.
func TestStoreErrorTemporary(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{errUnreachable, true},
		{storage.ErrLockTimeout, true},
		{storage.ErrCorrupt, false},
		{storage.ErrWrongKey, false},
		{storage.ErrRolledBack, false},
		{storage.ErrInsecurePermissions, false},
	} {
		se := &StoreError{Op: "load", Key: "k", Err: fmt.Errorf("wrapped: %w", tt.err)}
		if got := se.Temporary(); got != tt.want {
			t.Errorf("Temporary() of a StoreError wrapping %v = %v, want %v", tt.err, got, tt.want)
		}
	}
}
