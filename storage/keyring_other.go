//go:build !linux

package storage

// keyringAvailable lets go-keyring find out.
func keyringAvailable() error { return nil }

// classifyOS leaves go-keyring's errors to classify: on macOS and Windows
// go-keyring reports what it knows with its own sentinels.
func classifyOS(err error) error { return err }
