package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFileConcurrent runs writers and readers of three keys at once:
// readers never see a mixed record nor one older than a save acknowledged
// before they began, and the stored record is the newest one a Save
// acknowledged (the version check and the rename of one key's saves are
// one step in a process).
func TestFileConcurrent(t *testing.T) {
	f, _ := newTestFile(t)
	ctx := context.Background()
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		mustSave(t, f, k, testToken(0, 300))
	}
	// A slow write widens the window between a Save's check of the stored
	// version and its rename.
	f.write = func(fd *os.File, b []byte) (int, error) {
		time.Sleep(time.Duration(rand.Int64N(int64(500 * time.Microsecond))))
		return fd.Write(b)
	}
	var (
		next  atomic.Uint64
		mu    sync.Mutex
		acked = make(map[string]uint64) // guarded by mu; newest version saved per key
		wg    sync.WaitGroup
	)
	errs := make(chan error, 12)
	for g := range 12 {
		wg.Go(func() {
			for i := range 60 {
				k := keys[(g+i)%len(keys)]
				if g%2 == 0 {
					// Writers race: a save older than the stored record is refused.
					v := next.Add(1)
					err := f.Save(ctx, k, testToken(v, 300))
					if err != nil && !errors.Is(err, ErrStale) {
						errs <- err
						return
					}
					if err == nil {
						mu.Lock()
						acked[k] = max(acked[k], v)
						mu.Unlock()
					}
					continue
				}
				mu.Lock()
				floor := acked[k]
				mu.Unlock()
				got, err := f.Load(ctx, k)
				if err != nil {
					errs <- err
					return
				}
				if !consistent(got, 300) {
					errs <- fmt.Errorf("Load(%q): got a mixed record, version %d", k, got.Version)
					return
				}
				if got.Version < floor {
					errs <- fmt.Errorf("Load(%q): got version %d, want at least %d, saved before the Load began", k, got.Version, floor)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, k := range keys {
		got, err := f.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != acked[k] {
			t.Errorf("Load(%q): got version %d, want %d, the newest acknowledged save", k, got.Version, acked[k])
		}
	}
}

// TestFileSaveTakesTurns holds one Save between its version check and its
// rename and checks that a second Save of the same key waits for it.
func TestFileSaveTakesTurns(t *testing.T) {
	f, _ := newTestFile(t)
	ctx := context.Background()
	mustSave(t, f, "k", testToken(1, 0))
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	f.write = func(fd *os.File, b []byte) (int, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return fd.Write(b)
	}
	first := make(chan error, 1)
	go func() { first <- f.Save(ctx, "k", testToken(2, 0)) }()
	<-entered
	second := make(chan error, 1)
	go func() { second <- f.Save(ctx, "k", testToken(3, 0)) }()
	select {
	case err := <-second:
		t.Fatalf("the second Save returned %v while the first was between its check and its rename, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(3, 0))
}
