package volumes

import (
	"fmt"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
)

// describe is one line about a volume's snapshot: files, bytes read and
// added, duration, and files that changed while read.
func describe(s repository.Summary) string {
	line := fmt.Sprintf("%s, read %s of %s, added %s (%s stored) in %s",
		human.Count(int(s.TotalFiles), "file", "files"), human.Bytes(s.BytesRead), human.Bytes(s.TotalBytes),
		human.Bytes(s.BytesAdded), human.Bytes(s.StoredAdded), time.Duration(s.DurationSecond*float64(time.Second)).Round(10*time.Millisecond))
	if s.ChangedWhileRead > 0 {
		line += fmt.Sprintf("; %s changed while read", human.Count(int(s.ChangedWhileRead), "file", "files"))
	}
	return line
}
