package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStoreContract checks the Store and Locker contracts of storage.go
// on every store, the keyring store with a fake OS keyring (its own tests
// run the same calls against a real Secret Service).
func TestStoreContract(t *testing.T) {
	type lockingStore interface {
		Store
		Locker
	}
	stores := map[string]func(t *testing.T) lockingStore{
		"memory":      func(*testing.T) lockingStore { return NewMemory() },
		"zero Memory": func(*testing.T) lockingStore { return new(Memory) },
		"file": func(t *testing.T) lockingStore {
			_, key := rawKey(t)
			f, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "s"), Key: key})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		"keyring (fake OS keyring)": func(t *testing.T) lockingStore {
			return newFakeKeyring(t, &fakeKeyring{}, filepath.Join(t.TempDir(), "s"))
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("absent key", func(t *testing.T) { checkAbsent(t, open(t)) })
			t.Run("save replaces and never aliases", func(t *testing.T) { checkNoAliasing(t, open(t)) })
			t.Run("lock serialises and honours ctx", func(t *testing.T) { checkLock(t, open(t)) })
			for _, fc := range fenceCases {
				t.Run("fence/"+fc.name, func(t *testing.T) { fc.run(t, open(t)) })
			}
		})
	}
}

func checkAbsent(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Load(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of an absent key: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nobody"); err != nil {
		t.Errorf("Delete of an absent key: got %v, want nil", err)
	}
}

func checkNoAliasing(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().Round(0).UTC()
	in := &Token{AccessToken: "a1", TokenType: "Bearer", RefreshToken: "r1", IDToken: "i1", Scope: "openid", Expiry: now, Version: 1}
	if err := s.Save(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in.RefreshToken = "changed by the caller after Save"
	got, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "r1" || !got.Expiry.Equal(now) || got.Version != 1 {
		t.Fatalf("Load: got %v, want the record as saved", got)
	}
	got.AccessToken = "changed by the caller after Load"
	if again, _ := s.Load(ctx, "k"); again.AccessToken != "a1" {
		t.Errorf("a change to a loaded record reached the store: %v", again)
	}
	if err := s.Save(ctx, "k", &Token{AccessToken: "a2", Version: 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "k"); got.RefreshToken != "" || got.IDToken != "" || got.AccessToken != "a2" {
		t.Errorf("Save merged instead of replacing: %v", got)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: got %v, want ErrNotFound", err)
	}
}

func checkLock(t *testing.T, l Locker) {
	ctx := context.Background()
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			unlock, err := l.Lock(ctx, "k")
			if err != nil {
				t.Error(err)
				return
			}
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			if err := unlock(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d holders overlapped", n)
	}

	unlock, err := l.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	// Locks are per key: another key's lock is free while k is held.
	otherCtx, cancelOther := context.WithTimeout(ctx, 2*time.Second)
	defer cancelOther()
	other, err := l.Lock(otherCtx, "another key")
	if err != nil {
		t.Fatalf("lock of another key while k is held: got %v, want the lock", err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held key with a short ctx: got %v, want context.DeadlineExceeded", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err == nil {
		t.Error("a second unlock returned nil, want an error")
	}
	again, err := l.Lock(ctx, "k") // a timed-out waiter left nothing behind
	if err != nil {
		t.Fatalf("Lock after the waiter gave up: %v", err)
	}
	again()
}

// fenceCase saves versions in turn under one key and checks which saves
// are refused with ErrStale and what is stored in the end.
type fenceCase struct {
	name  string
	saves []uint64 // versions saved in turn; deleteMark deletes instead
	stale []bool   // per save: whether ErrStale is wanted
	want  uint64   // the version stored at the end
}

const deleteMark = ^uint64(0)

var fenceCases = []fenceCase{
	{"higher version replaces", []uint64{1, 2, 7}, []bool{false, false, false}, 7},
	{"equal version refused", []uint64{3, 3}, []bool{false, true}, 3},
	{"lower version refused", []uint64{5, 4, 1}, []bool{false, true, true}, 5},
	{"version 0 always accepted", []uint64{5, 0, 0, 2}, []bool{false, false, false, false}, 2},
	{"any version after Delete", []uint64{9, deleteMark, 1}, []bool{false, false, false}, 1},
}

func (fc fenceCase) run(t *testing.T, s Store) {
	ctx := context.Background()
	var last *Token // the record the store should hold
	for i, v := range fc.saves {
		if v == deleteMark {
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		tok := &Token{AccessToken: fmt.Sprintf("a-%d-%d", i, v), RefreshToken: fmt.Sprintf("r-%d", i), Version: v}
		err := s.Save(ctx, "k", tok)
		if got := errors.Is(err, ErrStale); got != fc.stale[i] {
			t.Fatalf("save %d (version %d): got %v, want ErrStale %v", i, v, err, fc.stale[i])
		}
		if err != nil && !fc.stale[i] {
			t.Fatalf("save %d (version %d): %v", i, v, err)
		}
		if err == nil {
			last = tok
		}
	}
	got, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != fc.want || got.AccessToken != last.AccessToken || got.RefreshToken != last.RefreshToken {
		t.Errorf("stored: got version %d %q, want version %d %q (refused saves must leave it untouched)",
			got.Version, got.AccessToken, fc.want, last.AccessToken)
	}
}
