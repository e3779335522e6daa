//go:build !unix

package segment

import (
	"fmt"
	"os"
)

// lockDir creates the lock file; without flock, exclusive use of the directory is the caller's
// responsibility.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock the audit log: %w", err)
	}
	return f, nil
}

// syncDir does nothing: directories cannot be fsynced on this platform (Windows makes renames
// durable itself).
func syncDir(string) error { return nil }
