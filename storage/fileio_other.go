//go:build !unix

package storage

import (
	"fmt"
	"os"
	"time"
)

// noFollow is added to the flags of every open of a record or lock file.
const noFollow = 0

// openNoFollow opens path for reading, failing if it is a symlink. Without
// O_NOFOLLOW the check is made before opening.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: it is a symlink; replace it with the file it points to or remove it", path, ErrInsecurePermissions)
	}
	return os.Open(path)
}

// checkFile checks that f is a regular file. File modes and owners are not
// checked on this platform: its access control lists are not modes.
func checkFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file; remove it", path, ErrInsecurePermissions)
	}
	return nil
}

// checkDir checks that dir is a directory.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkDirInfo(fi, dir)
}

// checkDirInfo is checkDir for fi, the result of a Stat of dir.
func checkDirInfo(fi os.FileInfo, dir string) error {
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}

// syncDir does nothing: directories cannot be synced on this platform.
func syncDir(string) error { return nil }

// lockTemp does nothing: removeStaleTemp goes by age on this platform.
func lockTemp(*os.File, string) (bool, error) { return true, nil }

// removeStaleTemp removes the temporary file name if it is more than an
// hour old.
func removeStaleTemp(name string) {
	if fi, err := os.Lstat(name); err == nil && time.Since(fi.ModTime()) > time.Hour {
		os.Remove(name)
	}
}
