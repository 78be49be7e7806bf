package storage

import "testing"

// NewFakeKeyringForTest returns a Keyring on a fake OS keyring, for the
// external tests of this package.
func NewFakeKeyringForTest(t *testing.T, dir string) *Keyring {
	return newFakeKeyring(t, &fakeKeyring{}, dir)
}
