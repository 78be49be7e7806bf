package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempMarker separates a record file's name from the random suffix of its
// temporary files.
const tempMarker = ".tmp-"

// symlinkError explains err, an error opening path with openNoFollow, when
// path is a symlink; otherwise it returns err.
func symlinkError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s: %w: it is a symlink; replace it with the file it points to (mv) or remove it", path, ErrInsecurePermissions)
	}
	return err
}

// ensureDir creates dir with mode 0700 if it does not exist and checks that
// it is a directory only the current user can use.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return checkDir(dir)
}

// resolveDir resolves the symlinks in dir, an absolute directory that
// ensureDir accepted, and returns the directory found and its identity.
func resolveDir(dir string) (string, os.FileInfo, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, err
	}
	if err := checkDirInfo(fi, real); err != nil {
		return "", nil, err
	}
	return real, fi, nil
}

// checkSameDir checks that the directory NewFile was given still leads to
// the directory it resolved, that this one was not replaced, and that it
// is still private. Costs two stats.
func (f *File) checkSameDir() error {
	fi, err := os.Stat(f.dir)
	if err == nil && !os.SameFile(fi, f.dirInfo) {
		err = fmt.Errorf("%s: %w: it is no longer the directory the store was created with (it was replaced); check it, then create the store again",
			f.dir, ErrInsecurePermissions)
	}
	if err == nil {
		err = checkDirInfo(fi, f.dir)
	}
	if err == nil && f.given != f.dir {
		var gi os.FileInfo
		if gi, err = os.Stat(f.given); err == nil && !os.SameFile(gi, f.dirInfo) {
			err = fmt.Errorf("%s: %w: it now leads to another directory than %s, the one the store was created with (a symlink was re-pointed); check it, then create the store again",
				f.given, ErrInsecurePermissions, f.dir)
		}
	}
	return err
}

// createTemp creates and locks a new temporary file beside target. The
// lock tells cleanupTemps that the file is being written.
func createTemp(target string) (*os.File, string, error) {
	var suffix [8]byte
	for range 10 {
		if _, err := rand.Read(suffix[:]); err != nil {
			return nil, "", err
		}
		name := target + tempMarker + hex.EncodeToString(suffix[:])
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		// A cleaner may have locked or removed the file between create and
		// lock: then try another name.
		if ok, err := lockTemp(f, name); err != nil || !ok {
			f.Close()
			if err != nil {
				return nil, "", err
			}
			continue
		}
		return f, name, nil
	}
	return nil, "", errors.New("could not create a temporary file")
}

// cleanupTemps removes the temporary files in dir that no live writer
// holds: those a crashed process left behind. It is best effort.
func cleanupTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.Contains(e.Name(), tempMarker) {
			removeStaleTemp(filepath.Join(dir, e.Name()))
		}
	}
}

// writeAtomic replaces target with data: a temporary file in the same
// directory is written, fsynced and renamed over target, then the
// directory is fsynced. A reader sees the old or the new file, never a
// mix; on error target is unchanged unless only the final directory sync
// failed. write writes to the temporary file.
func writeAtomic(target string, data []byte, write func(*os.File, []byte) (int, error)) (err error) {
	f, name, err := createTemp(target)
	if err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	renamed := false
	defer func() {
		f.Close()
		if !renamed {
			os.Remove(name)
		}
	}()
	n, err := write(f, data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(data))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	// Rename before closing: the lock on the temporary file must last
	// until it has its final name.
	if err := os.Rename(name, target); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	renamed = true
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("sync directory (the record was replaced but may not be durable): %w", err)
	}
	return nil
}

func writeFile(f *os.File, b []byte) (int, error) { return f.Write(b) }
