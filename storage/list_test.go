package storage_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

func TestMemoryKeys(t *testing.T) {
	m := storage.NewMemory()
	ctx := t.Context()
	if keys, err := m.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("empty: got %q, %v", keys, err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := m.Save(ctx, k, &storage.Token{AccessToken: "at"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if keys, err := m.Keys(ctx); err != nil || !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("got %q, %v; want [a b]", keys, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Keys(cctx); err == nil {
		t.Error("Keys with a cancelled ctx: no error")
	}
	var zero storage.Memory
	if keys, err := zero.Keys(ctx); err != nil || len(keys) != 0 {
		t.Errorf("zero Memory: got %q, %v", keys, err)
	}
}
