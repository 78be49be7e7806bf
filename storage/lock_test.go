package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockSerialises: goroutines locking one key through one store, and
// through two stores on the same directory (as two processes would), never
// overlap; other keys do not wait.
func TestLockSerialises(t *testing.T) {
	a, dir := newTestFile(t)
	b, err := NewFile(FileConfig{Dir: dir, Key: FileKey{a.codec.(*fileKey)}})
	if err != nil {
		t.Fatal(err)
	}
	var inside, overlaps, entries atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		store := a
		if g%2 == 1 {
			store = b
		}
		wg.Go(func() {
			for range 20 {
				unlock, err := store.Lock(context.Background(), "acct")
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				entries.Add(1)
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				if err := unlock(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// Another key is not held up by "acct".
	unlock, err := a.Lock(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	wg.Wait()
	if got := overlaps.Load(); got != 0 {
		t.Errorf("got %d entries while another goroutine held the lock, want 0", got)
	}
	if got := entries.Load(); got != 160 {
		t.Errorf("got %d lock entries, want 160", got)
	}
	if n := len(a.locks.locks) + len(b.locks.locks); n != 0 {
		t.Errorf("got %d in-process lock entries left, want 0", n)
	}
}

func TestLockContext(t *testing.T) {
	f, dir := newTestFile(t)
	unlock, err := f.Lock(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		store *File
		ctx   func() (context.Context, context.CancelFunc)
		want  error
	}{
		{"deadline, same store", f, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled, same store", f, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline, file lock held by another store", nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.store
			if store == nil {
				var err error
				if store, err = NewFile(FileConfig{Dir: dir, Key: FileKey{f.codec.(*fileKey)}}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := store.Lock(ctx, "acct")
			if !errors.Is(err, ErrLockTimeout) || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want ErrLockTimeout and %v", err, tt.want)
			}
		})
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err == nil {
		t.Error("second unlock: got nil error, want one")
	}
	if _, err := os.Stat(filepath.Join(dir, fileBase("acct")+".lock")); err != nil {
		t.Errorf("lock file after unlock: %v, want it kept", err)
	}
	if n := len(f.locks.locks); n != 0 {
		t.Errorf("got %d in-process lock entries left, want 0", n)
	}
	unlock, err = f.Lock(context.Background(), "acct")
	if err != nil {
		t.Fatalf("Lock after the failed attempts: %v", err)
	}
	unlock()
}

// TestLockAcrossProcesses: a child process holds the lock; Lock here
// times out; the child is killed with SIGKILL and Lock here succeeds
// promptly. Then a child that holds the lock for 300 ms and unlocks makes
// Lock here wait for it.
func TestLockAcrossProcesses(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and subprocesses")
	}
	raw, key := rawKey(t)
	dir := filepath.Join(t.TempDir(), "d")
	f, err := NewFile(FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}

	c := startChild(t, "TestLockAcrossProcesses", "lock-holder", dir, raw, "")
	c.expect(t, "locked")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = f.Lock(ctx, "acct")
	cancel()
	if !errors.Is(err, ErrLockTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while the child holds it: got %v, want ErrLockTimeout", err)
	}
	waiting := make(chan time.Duration)
	go func() {
		start := time.Now()
		unlock, err := f.Lock(context.Background(), "acct")
		if err != nil {
			t.Error(err)
			close(waiting)
			return
		}
		el := time.Since(start)
		unlock()
		waiting <- el
	}()
	time.Sleep(50 * time.Millisecond)
	killed := time.Now()
	c.kill()
	<-waiting
	if el := time.Since(killed); el > time.Second {
		t.Errorf("Lock took %v after the holder was killed, want well under 1 s", el)
	} else {
		t.Logf("acquired %v after SIGKILL of the holder", el.Round(time.Microsecond))
	}

	c = startChild(t, "TestLockAcrossProcesses", "lock-holder", dir, raw, "300ms")
	c.expect(t, "locked")
	start := time.Now()
	unlock, err := f.Lock(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	unlock()
	if el < 200*time.Millisecond {
		t.Errorf("Lock took %v while the child held it for 300 ms", el)
	}
	c.expect(t, "unlocked")
	if _, err := os.Stat(filepath.Join(dir, fileBase("acct")+".lock")); err != nil {
		t.Errorf("lock file: %v, want it kept", err)
	}
}
