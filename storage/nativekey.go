package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ensureKeyFile creates path with a random 32-byte key, hex encoded, mode
// 0600, unless it exists; a missing directory is created with mode 0700.
// The key is written to a temporary file that is then hard-linked to
// path, so no reader ever sees a partial key and, of two first runs
// racing, both end up with the same key.
func ensureKeyFile(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return nil // KeyFromFile checks its owner and mode
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: key file: creating its directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".file.key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("storage: key file: %w", err)
	}
	defer os.Remove(f.Name())
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		f.Close()
		return fmt.Errorf("storage: key file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
	clear(raw)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("storage: key file: writing %s: %w", path, err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("storage: key file: %w", err)
	}
	return nil
}
