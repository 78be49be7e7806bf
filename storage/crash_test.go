package storage

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFileCrash kills a process that saves records in a loop with SIGKILL
// at random moments, 200 times. After every kill the record must decode
// to a complete record: the last one the child reported saved (old) or
// the one it was saving (new), and the store must keep working. Temporary
// files of killed writers may stay until the next NewFile removes them.
func TestFileCrash(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and subprocesses")
	}
	kills := 200
	if testing.Short() {
		kills = 20
	}
	const idTokenSize = 2000
	raw, key := rawKey(t)
	dir := filepath.Join(t.TempDir(), "d")
	f, err := NewFile(FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustSave(t, f, "acct", testToken(1, idTokenSize))
	var old, fresh, withTemp, maxTemps int
	start := time.Now()
	for i := range kills {
		c := startChild(t, "TestFileCrash", "crash-saver", dir, raw, strconv.Itoa(idTokenSize))
		first := c.expect(t, "saved ")
		time.Sleep(time.Duration(rand.Int64N(int64(4 * time.Millisecond))))
		lines := append([]string{first}, c.kill()...)
		acked := lastSaved(t, lines)
		got, err := f.Load(ctx, "acct")
		if err != nil {
			t.Fatalf("kill %d: Load: %v", i, err)
		}
		if !consistent(got, idTokenSize) {
			t.Fatalf("kill %d: got a mixed record, version %d", i, got.Version)
		}
		switch got.Version {
		case acked:
			old++
		case acked + 1:
			fresh++
		default:
			t.Fatalf("kill %d: got version %d, want %d (old) or %d (new)", i, got.Version, acked, acked+1)
		}
		if n := len(tempFiles(t, dir)); n > 0 {
			withTemp++
			maxTemps = max(maxTemps, n)
		}
		if n := len(tempFiles(t, dir)); n > 1 {
			t.Fatalf("kill %d: %d temporary files, want at most 1 (NewFile removes the previous ones)", i, n)
		}
		// The store keeps working: this process saves the next version.
		mustSave(t, f, "acct", testToken(got.Version+1, idTokenSize))
	}
	if _, err := NewFile(FileConfig{Dir: dir, Key: key}); err != nil {
		t.Fatal(err)
	}
	if n := len(tempFiles(t, dir)); n != 0 {
		t.Errorf("after NewFile: got %d temporary files, want 0", n)
	}
	t.Logf("%d kills in %v: %d old record, %d new record, %d left a temporary file (at most %d at once), 0 corrupt",
		kills, time.Since(start).Round(time.Millisecond), old, fresh, withTemp, maxTemps)
}

// lastSaved returns N of the last "saved N" line.
func lastSaved(t *testing.T, lines []string) uint64 {
	t.Helper()
	for i := len(lines) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(lines[i], "saved "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("the child saved nothing")
	return 0
}
