package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/restore"
)

// repairHint is what to run after a restore met damage: check finds out
// whether an index file or the data is damaged, and names the repair.
const repairHint = "lifeboat check --read-data, which names the repair"

// printDamage lists the paths a restore left out because their data is
// damaged or lost in the repository, with the byte ranges lost.
func printDamage(w io.Writer, res *restore.Result) {
	if res.DamagedCount == 0 {
		return
	}
	fmt.Fprintf(w, "left out %s whose data is damaged or lost in the repository:\n", human.Count(int(res.DamagedCount), "path", "paths"))
	for _, d := range res.Damaged {
		switch {
		case d.Dir:
			fmt.Fprintf(w, "  %s/ (%s)\n", d.Path, d.Why)
			continue
		case len(d.Ranges) == 0:
			fmt.Fprintf(w, "  %s (%s)\n", d.Path, d.Why)
			continue
		}
		var rs []string
		var lost int64
		for _, r := range d.Ranges {
			rs = append(rs, fmt.Sprintf("%d-%d", r.Start, r.End))
			lost += r.End - r.Start
		}
		if len(rs) > 4 {
			rs = append(rs[:4], "…")
		}
		fmt.Fprintf(w, "  %s: %s of %s lost (bytes %s): %s\n", d.Path, human.Bytes(lost), human.Bytes(d.Size), strings.Join(rs, ", "), d.Why)
		if d.KeptAs != "" {
			fmt.Fprintf(w, "    written as %s, the lost bytes as zeros\n", d.KeptAs)
		}
	}
	if n := res.DamagedCount - int64(len(res.Damaged)); n > 0 {
		fmt.Fprintf(w, "  and %d more\n", n)
	}
}

// restoreIncomplete is the error of a restore that left damaged paths
// out (restore.ErrIncomplete), with what to run next; other errors pass.
func restoreIncomplete(err error) error {
	if !errors.Is(err, restore.ErrIncomplete) {
		return err
	}
	return fmt.Errorf("%w; everything else is restored. Next: %s", err, repairHint)
}
