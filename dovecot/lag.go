package dovecot

import (
	"encoding/json"
	"os"
)

// Lag is how many bytes of the log at path were written after the saved
// position (what Sink.Ingest was given for the source): how far the source
// is behind. A rotated log counts from the start of the new file.
func Lag(path, savedPosition string) (int64, error) {
	var sv saved
	if err := json.Unmarshal([]byte(savedPosition), &sv); err != nil {
		return 0, err
	}
	pos, err := ParsePosition(sv.Position)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if ino := inode(fi); ino != pos.Ino {
		return fi.Size(), nil
	}
	return max(fi.Size()-pos.Off, 0), nil
}
