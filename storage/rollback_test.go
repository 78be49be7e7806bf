package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rollbackEnv is two File stores on one directory and key: this process
// (a) and another one (b).
type rollbackEnv struct {
	a, b *File
	path string // the record file of "acct"
}

func newRollbackEnv(t *testing.T) rollbackEnv {
	t.Helper()
	_, key := rawKey(t)
	dir := filepath.Join(t.TempDir(), "d")
	a, err := NewFile(FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewFile(FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := a.recordPath("acct")
	return rollbackEnv{a: a, b: b, path: path}
}

// restore writes b, a copy of the record file taken earlier, back.
func (e rollbackEnv) restore(t *testing.T, b []byte) {
	t.Helper()
	if err := os.WriteFile(e.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, s Store, want uint64) {
	t.Helper()
	got, err := s.Load(context.Background(), "acct")
	if err != nil {
		t.Fatalf("Load: got %v, want version %d", err, want)
	}
	if got.Version != want {
		t.Fatalf("Load: got version %d, want %d", got.Version, want)
	}
}

// TestFileRollback: a File refuses a record older than one it saw in the
// same lineage, or of a lineage that was replaced, and accepts a new
// lineage started by a Delete and a new login in another process.
func TestFileRollback(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		run          func(t *testing.T, e rollbackEnv)
		wantRefusedA bool // a's final Load and Save are refused with ErrRolledBack
	}{
		{"older copy restored", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(1, 0))
			old := readFile(t, e.path)
			mustSave(t, e.a, "acct", testToken(2, 0))
			e.restore(t, old)
		}, true},
		{"older copy restored after another process saved", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.b, "acct", testToken(1, 0))
			old := readFile(t, e.path)
			mustSave(t, e.b, "acct", testToken(2, 0))
			mustLoad(t, e.a, 2)
			e.restore(t, old)
		}, true},
		{"copy of a replaced login restored", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(7, 0))
			old := readFile(t, e.path)
			if err := e.b.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			mustSave(t, e.b, "acct", testToken(9, 0))
			mustLoad(t, e.a, 9)
			e.restore(t, old)
		}, true},
		{"copy restored after this process's Delete", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(3, 0))
			old := readFile(t, e.path)
			if err := e.a.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			e.restore(t, old)
		}, true},
		{"Delete and new login in another process", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(9, 0))
			mustLoad(t, e.a, 9)
			if err := e.b.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			mustSave(t, e.b, "acct", testToken(1, 0))
		}, false},
		{"unversioned save in another process starts over", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(9, 0))
			mustSave(t, e.b, "acct", testToken(0, 0))
			mustSave(t, e.b, "acct", testToken(2, 0))
		}, false},
		{"record of a tokenkeeper without lineages", func(t *testing.T, e rollbackEnv) {
			mustSave(t, e.a, "acct", testToken(9, 0))
			plain, err := encodeRecord(testToken(2, 0), "") // the format before lineages
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.a.codec.seal("acct", plain)
			if err != nil {
				t.Fatal(err)
			}
			e.restore(t, b)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRollbackEnv(t)
			tt.run(t, e)
			orig := readFile(t, e.path)
			_, loadErr := e.a.Load(ctx, "acct")
			saveErr := e.a.Save(ctx, "acct", testToken(20, 0))
			if !tt.wantRefusedA {
				if loadErr != nil || saveErr != nil {
					t.Fatalf("Load, Save: got %v, %v, want both accepted", loadErr, saveErr)
				}
				mustLoad(t, e.b, 20)
				return
			}
			for op, err := range map[string]error{"Load": loadErr, "Save": saveErr} {
				if !errors.Is(err, ErrRolledBack) {
					t.Fatalf("%s: got %v, want ErrRolledBack", op, err)
				}
				if !strings.Contains(err.Error(), "Delete the key and log in again") {
					t.Errorf("%s: got %q, want it to name the fix", op, err)
				}
				noSecret(t, err)
			}
			unchanged(t, e.path, orig)
			if err := e.a.Delete(ctx, "acct"); err != nil { // the way out
				t.Fatal(err)
			}
			mustSave(t, e.a, "acct", testToken(1, 0))
			mustLoad(t, e.a, 1)
		})
	}
}

// TestFileRollbackAfterRestart documents the limit of a File alone: a
// process that has not seen the newer record believes the first one it
// loads.
func TestFileRollbackAfterRestart(t *testing.T) {
	e := newRollbackEnv(t)
	mustSave(t, e.a, "acct", testToken(1, 0))
	old := readFile(t, e.path)
	mustSave(t, e.a, "acct", testToken(2, 0))
	e.restore(t, old)
	mustLoad(t, e.b, 1)
}
