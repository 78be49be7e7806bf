package nodeop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gofrs/flock"
)

// installTimeout bounds npm ci: a fresh install from the npm registry takes
// a few seconds.
const installTimeout = 5 * time.Minute

// errNoNode reports that node or npm is not on PATH.
var errNoNode = errors.New("nodeop: node or npm not found on PATH")

// importPath is this package's import path.
const importPath = "github.com/tokenkeeper/tokenkeeper/examples/internal/nodeop"

// serverDir returns the directory of server.mjs, next to this file: found
// from the source path compiled into the binary or, when that is not
// absolute (go test -trimpath), with go list.
func serverDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("nodeop: cannot locate the package source")
	}
	pkg := filepath.Dir(file)
	if !filepath.IsAbs(pkg) {
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", importPath).Output()
		if err != nil {
			return "", fmt.Errorf("nodeop: locating the package source: go list: %w", err)
		}
		pkg = string(bytes.TrimSpace(out))
	}
	dir := filepath.Join(pkg, "server")
	if _, err := os.Stat(filepath.Join(dir, "server.mjs")); err != nil {
		return "", fmt.Errorf("nodeop: server.mjs: %w", err)
	}
	return dir, nil
}

// installed is the file that records which package-lock.json the
// node_modules directory was installed from.
const installed = "node_modules/.nodeop-installed"

// ensureInstalled runs `npm ci` in dir unless node_modules was already
// installed from the current package-lock.json. A file lock serialises test
// binaries that start at the same time (go test runs packages in parallel).
// It returns the path of node.
func ensureInstalled(ctx context.Context, dir string) (node string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", errNoNode
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("nodeop: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := []byte(hex.EncodeToString(sum[:]))
	if isInstalled(dir, want) {
		return node, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errNoNode
	}
	fl := flock.New(filepath.Join(dir, ".install.lock"))
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	if _, err := fl.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return "", fmt.Errorf("nodeop: waiting for another npm ci: %w", err)
	}
	defer fl.Unlock()
	if isInstalled(dir, want) { // another test binary installed it meanwhile
		return node, nil
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefer-offline", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nodeop: npm ci in %s: %w\n%s", dir, err, tail(out, 4096))
	}
	if err := os.WriteFile(filepath.Join(dir, installed), want, 0o644); err != nil {
		return "", fmt.Errorf("nodeop: %w", err)
	}
	return node, nil
}

func isInstalled(dir string, want []byte) bool {
	got, err := os.ReadFile(filepath.Join(dir, installed))
	return err == nil && bytes.Equal(got, want)
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
