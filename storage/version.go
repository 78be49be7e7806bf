package storage

import "fmt"

// checkFence returns an error wrapping ErrStale when t may not replace
// stored, the record the store holds for the key (nil when none): stored
// has a Version at or above t's and t is versioned (Version > 0).
func checkFence(stored, t *Token) error {
	if stored == nil || t.Version == 0 || t.Version > stored.Version {
		return nil
	}
	return fmt.Errorf("%w: the stored record has version %d, this one %d; Load the stored record and use it instead",
		ErrStale, stored.Version, t.Version)
}
