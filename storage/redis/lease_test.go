package redisstore_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
)

// stealLock makes the lock of acct look expired and taken by another
// holder, as after a pause longer than the lease: it deletes the lock key
// and lets other take the lease.
func stealLock(t *testing.T, c *redis.Client, other *redisstore.Store) storage.Lease {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*:lock").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lock keys: %q, %v", keys, err)
	}
	c.Del(ctx, keys[0])
	l, err := other.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReleaseChecksOwner: a holder whose lease expired and was taken
// over must not delete the new holder's lock when it releases.
func TestReleaseChecksOwner(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	s := newStore(t, r, redisstore.Config{Client: c})
	ctx := context.Background()
	old, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	cur := stealLock(t, c, s)
	defer cur.Release()
	if err := old.Release(); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("Release of a taken-over lease: got %v, want ErrLeaseLost", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if l, err := s.LockLease(short, "acct"); err == nil {
		l.Release()
		t.Fatal("the old holder's Release freed the new holder's lock")
	}
	if err := cur.Release(); err != nil {
		t.Errorf("Release by the holder: %v", err)
	}
	if err := cur.Release(); err == nil {
		t.Error("a second Release returned nil")
	}
}

// TestKeepReportsLostLease: Keep fails with ErrLeaseLost once another
// holder has the lock, and does not take it back.
func TestKeepReportsLostLease(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	s := newStore(t, r, redisstore.Config{Client: c})
	ctx := context.Background()
	old, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Keep(ctx, 30*time.Second); err != nil {
		t.Fatalf("Keep of a held lease: %v", err)
	}
	if ttl := c.PTTL(ctx, onlyKey(t, c, "*:lock")).Val(); ttl < 29*time.Second {
		t.Errorf("after Keep(30s) the lock's TTL is %v", ttl)
	}
	cur := stealLock(t, c, s)
	defer cur.Release()
	if err := old.Keep(ctx, time.Second); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("Keep of a taken-over lease: got %v, want ErrLeaseLost", err)
	}
	c.Del(ctx, onlyKey(t, c, "*:lock")) // the new holder's lease expires too
	if err := old.Keep(ctx, time.Second); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("Keep after the lock was freed: got %v, want ErrLeaseLost (a lost lease stays lost)", err)
	}
	if n := len(c.Keys(ctx, "*:lock").Val()); n != 0 {
		t.Errorf("Keep of a lost lease re-created the lock")
	}
	old.Release()
}

// TestLeaseRenewedWhileHeld: a holder that does not call Keep keeps its
// lease past LeaseTTL; after Release (and after a crash, TTL) others get
// it.
func TestLeaseRenewedWhileHeld(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	s := newStore(t, r, redisstore.Config{Client: c, LeaseTTL: 150 * time.Millisecond})
	ctx := context.Background()
	l, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // four lease lifetimes
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if other, err := s.LockLease(short, "acct"); err == nil {
		other.Release()
		t.Fatal("the lease ran out while its holder was alive")
	} else if !errors.Is(err, storage.ErrLockTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LockLease of a held key: got %v, want ErrLockTimeout and DeadlineExceeded", err)
	}
	if err := l.Keep(ctx, time.Millisecond); err != nil {
		t.Errorf("Keep: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l2, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("lock after Release took %v", d)
	}
	l2.Release()

	// A crashed holder: its lock is there, nobody renews it.
	c.Set(ctx, strings.Replace(onlyKeyName(s, "acct"), "record", "lock", 1), "crashed-owner", 300*time.Millisecond)
	start = time.Now()
	l3, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	l3.Release()
	if d := time.Since(start); d < 200*time.Millisecond || d > 600*time.Millisecond {
		t.Errorf("waited %v for a crashed holder's 300ms lease, want about 300ms", d)
	}
}

// onlyKeyName returns the record key s uses for acct.
func onlyKeyName(s *redisstore.Store, acct string) string {
	return redisstore.RecordKeyForTest(s, acct)
}

// TestLockWaitsWithoutBusyLoop: a waiter polls with back-off, not in a
// tight loop: at most about one attempt per 25 ms (MaxWait 100 ms, at
// least a quarter of it between attempts once it has grown).
func TestLockWaitsWithoutBusyLoop(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	s := newStore(t, r, redisstore.Config{Client: c})
	ctx := context.Background()
	l, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := commands(t, c)
	wait, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := s.LockLease(wait, "acct"); err == nil {
		t.Fatal("got the held lock")
	}
	if n := commands(t, c) - before; n > 60 {
		t.Errorf("a 1 s wait sent %d commands, want at most about 40", n)
	} else {
		t.Logf("a 1 s wait sent %d commands", n)
	}
}

func commands(t *testing.T, c *redis.Client) int {
	info := c.Info(context.Background(), "stats").Val()
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no total_commands_processed in INFO")
	return 0
}

// TestNoGoroutineLeak: every lease's renewal goroutine ends at Release,
// at once, including leases that were lost and waits that gave up.
func TestNoGoroutineLeak(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	fast := newStore(t, r, redisstore.Config{Client: c, LeaseTTL: 60 * time.Millisecond}) // renewals run
	slow := newStore(t, r, redisstore.Config{Client: c, LeaseTTL: 3 * time.Second})       // the first renewal is 1 s away
	ctx := context.Background()
	warm, _ := fast.LockLease(ctx, "warm") // the client's pool goroutines
	warm.Release()
	held, err := slow.LockLease(ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	before := runtime.NumGoroutine()
	for i := range 50 {
		s := fast
		if i%2 == 1 {
			s = slow
		}
		l, err := s.LockLease(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(50 * time.Millisecond) // a renewal runs
		}
		if i%5 == 0 {
			c.Del(ctx, redisstore.LockKeyForTest(s, "acct")) // lost
		}
		l.Release()
		short, cancel := context.WithTimeout(ctx, time.Millisecond)
		if _, err := s.LockLease(short, "held"); err == nil {
			t.Fatal("got a held lock")
		}
		cancel()
	}
	time.Sleep(100 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
