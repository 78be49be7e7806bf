package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// acquireScript is SET KEYS[1] ARGV[1] NX PX ARGV[2], except that a key
// already holding ARGV[1] (an earlier attempt whose answer was lost)
// counts as acquired and gets its TTL back.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// keepScript extends KEYS[1] to at least ARGV[2] ms if it still holds the
// owner token ARGV[1]; 0 when it does not.
var keepScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// releaseScript deletes KEYS[1] if it holds the owner token ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// LockLease implements [storage.LeaseLocker]: it takes key's lease, see
// the package documentation. It returns an error wrapping
// [storage.ErrLockTimeout] and ctx.Err() when ctx is done first; a Redis
// failure while waiting is retried until then, and reported (wrapping
// [ErrUnavailable]) alongside. The returned [storage.Lease] is renewed
// every LeaseTTL/3 by a goroutine that its Release stops.
func (s *Store) LockLease(ctx context.Context, key string) (storage.Lease, error) {
	if key == "" {
		return nil, errors.New("redisstore: lock: empty key")
	}
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redisstore: lock: %w", err)
	}
	l := &lease{s: s, key: s.lockKey(key), owner: hex.EncodeToString(b[:]), done: make(chan struct{})}
	var lastErr error
	sent := false // an attempt may have reached Redis
	for attempt := 0; ; attempt++ {
		var got int64
		err := s.call(ctx, "lock", func(ctx context.Context) (err error) {
			got, err = acquireScript.Run(ctx, s.cfg.Client, []string{l.key}, l.owner, s.cfg.LeaseTTL.Milliseconds()).Int64()
			return err
		})
		if err == nil && got == 1 {
			var rctx context.Context
			rctx, l.stop = context.WithCancel(context.Background())
			go l.renew(rctx)
			return l, nil
		}
		if err != nil {
			sent = true
			if ctx.Err() == nil {
				lastErr = err
			}
		}
		if ctx.Err() != nil {
			break
		}
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	if sent { // an attempt may have succeeded unseen: free it, without ctx
		l.releaseKey(context.WithoutCancel(ctx))
	}
	if lastErr != nil {
		return nil, fmt.Errorf("redisstore: lock: %w: %w (last error: %w)", storage.ErrLockTimeout, ctx.Err(), lastErr)
	}
	return nil, fmt.Errorf("redisstore: lock: %w: %w", storage.ErrLockTimeout, ctx.Err())
}

// backoff is the pause after the attempt-th failed attempt: full jitter
// over 2 ms doubling up to MaxWait.
func (s *Store) backoff(attempt int) time.Duration {
	d := s.cfg.MaxWait
	if attempt < 16 {
		d = min(d, 2*time.Millisecond<<attempt)
	}
	return d/4 + rand.N(d*3/4+1)
}

// Lock implements [storage.Locker] on top of [Store.LockLease]. unlock
// releases the lease; a second call returns an error.
func (s *Store) Lock(ctx context.Context, key string) (func() error, error) {
	l, err := s.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// lease is a held lock. Keep and Release are called by one goroutine at a
// time (storage.Lease); renew runs beside them.
type lease struct {
	s     *Store
	key   string // the lock's Redis key
	owner string // the random owner token

	stop context.CancelFunc // called by Release: renew returns
	done chan struct{}      // closed by renew when it returns

	mu       sync.Mutex
	lost     bool // guarded by mu: the owner token was found gone
	released bool // guarded by mu
}

// renew keeps the lease alive every LeaseTTL/3 until Release cancels
// ctx, or until it finds the lease lost. A failed renewal is retried at
// the next tick.
func (l *lease) renew(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(l.s.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := l.keep(ctx, l.s.cfg.LeaseTTL); errors.Is(err, storage.ErrLeaseLost) {
				return
			}
		}
	}
}

// Keep implements [storage.Lease]: it makes sure the lease lasts at least
// d from now. It returns an error wrapping [storage.ErrLeaseLost] if the
// lease was lost (then and forever after), one wrapping [ErrUnavailable]
// if Redis could not confirm it.
func (l *lease) Keep(ctx context.Context, d time.Duration) error {
	return l.keep(ctx, max(d, time.Millisecond))
}

func (l *lease) keep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	lost, released := l.lost, l.released
	l.mu.Unlock()
	switch {
	case released:
		return fmt.Errorf("redisstore: keep: %w: the lease was released", storage.ErrLeaseLost)
	case lost:
		return fmt.Errorf("redisstore: keep: %w", storage.ErrLeaseLost)
	}
	var held int64
	err := l.s.call(ctx, "keep", func(ctx context.Context) (err error) {
		held, err = keepScript.Run(ctx, l.s.cfg.Client, []string{l.key}, l.owner, d.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return err
	}
	if held == 0 {
		l.mu.Lock()
		l.lost = true
		l.mu.Unlock()
		return fmt.Errorf("redisstore: keep: %w: it expired or was taken over (the holder was paused or cut off from Redis for longer than LeaseTTL)", storage.ErrLeaseLost)
	}
	return nil
}

// Release implements [storage.Lease]: it stops the renewal and deletes the
// lock if this lease still holds it. It returns an error wrapping
// [storage.ErrLeaseLost] if the lease had been lost, so that what was
// done under it was not exclusive, and an error when called twice.
func (l *lease) Release() error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return errors.New("redisstore: unlock: already released")
	}
	l.released = true
	l.mu.Unlock()
	l.stop()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.Timeout)
	defer cancel()
	n, err := l.releaseKey(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("redisstore: unlock: %w: it expired before Release", storage.ErrLeaseLost)
	}
	return nil
}

// releaseKey deletes the lock if it holds this lease's owner token.
func (l *lease) releaseKey(ctx context.Context) (int64, error) {
	var n int64
	err := l.s.call(ctx, "unlock", func(ctx context.Context) (err error) {
		n, err = releaseScript.Run(ctx, l.s.cfg.Client, []string{l.key}, l.owner).Int64()
		return err
	})
	return n, err
}
