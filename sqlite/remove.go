package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Remove deletes the store in dir (the database and its write-ahead log),
// holding the data directory's write lock while it does, so that a store
// another process has open is never pulled from under it. Only the demo,
// which rebuilds its own store, calls it: audit records are otherwise
// deleted by retention alone.
func Remove(dir string) error {
	f, holder, err := lockDir(dir)
	if err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("sqlite: %s is in use by %s; stop it first", dir, holder)
	}
	defer f.Close()
	for _, name := range []string{FileName, FileName + "-wal", FileName + "-shm"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite: removing %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}
