// Package storagetest checks that a [storage.Store] keeps the contract
// written in package storage, so that stores in other modules (such as the
// Redis store) run the same assertions as the memory, file and keyring
// stores. It is for tests only.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Contract runs the [storage.Store] contract as subtests of t, each on a
// new empty store from newStore: an absent key, Save replacing the whole
// record without aliasing the caller's Token, Delete, and the Version
// fence ([storage.ErrStale], Version 0, any Version after Delete). When
// the store is also a [storage.Locker] it checks that Lock serialises the
// holders of one key, not of two keys, honours ctx, and that unlock fails
// when called twice.
func Contract(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	t.Run("absent key", func(t *testing.T) { checkAbsent(t, newStore(t)) })
	t.Run("save replaces and never aliases", func(t *testing.T) { checkNoAliasing(t, newStore(t)) })
	t.Run("lock serialises and honours ctx", func(t *testing.T) {
		l, ok := newStore(t).(storage.Locker)
		if !ok {
			t.Skip("not a storage.Locker")
		}
		checkLock(t, l)
	})
	for _, fc := range fenceCases {
		t.Run("fence/"+fc.name, func(t *testing.T) { fc.run(t, newStore(t)) })
	}
}

func checkAbsent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if _, err := s.Load(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Load of an absent key: got %v, want storage.ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nobody"); err != nil {
		t.Errorf("Delete of an absent key: got %v, want nil", err)
	}
}

func checkNoAliasing(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := time.Now().Round(0).UTC()
	in := &storage.Token{AccessToken: "a1", TokenType: "DPoP", RefreshToken: "r1", IDToken: "i1", Scope: "openid", Expiry: now, DPoPKey: "k1", Version: 1}
	if err := s.Save(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in.RefreshToken = "changed by the caller after Save"
	got, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "r1" || got.DPoPKey != "k1" || got.TokenType != "DPoP" || !got.Expiry.Equal(now) || got.Version != 1 {
		t.Fatalf("Load: got %v, want the record as saved", got)
	}
	got.AccessToken = "changed by the caller after Load"
	if again, _ := s.Load(ctx, "k"); again.AccessToken != "a1" {
		t.Errorf("a change to a loaded record reached the store: %v", again)
	}
	if err := s.Save(ctx, "k", &storage.Token{AccessToken: "a2", Version: 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "k"); got.RefreshToken != "" || got.IDToken != "" || got.DPoPKey != "" || got.AccessToken != "a2" {
		t.Errorf("Save merged instead of replacing: %v", got)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Load after Delete: got %v, want storage.ErrNotFound", err)
	}
}

func checkLock(t *testing.T, l storage.Locker) {
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
// are refused with storage.ErrStale and what is stored in the end.
type fenceCase struct {
	name  string
	saves []uint64 // versions saved in turn; deleteMark deletes instead
	stale []bool   // per save: whether storage.ErrStale is wanted
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

func (fc fenceCase) run(t *testing.T, s storage.Store) {
	ctx := context.Background()
	var last *storage.Token // the record the store should hold
	for i, v := range fc.saves {
		if v == deleteMark {
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		tok := &storage.Token{AccessToken: fmt.Sprintf("a-%d-%d", i, v), RefreshToken: fmt.Sprintf("r-%d", i), Version: v}
		err := s.Save(ctx, "k", tok)
		if got := errors.Is(err, storage.ErrStale); got != fc.stale[i] {
			t.Fatalf("save %d (version %d): got %v, want storage.ErrStale %v", i, v, err, fc.stale[i])
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
