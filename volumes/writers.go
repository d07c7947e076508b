package volumes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// ErrInUse: a volume that lifeboat is to write into is used by a running
// container that it may not stop.
var ErrInUse = errors.New("in use by a running container")

// holdWriters keeps the one rule for writing into volumes, for every
// workflow that writes into one that may exist (restore into a volume,
// migrate's destination, the copies of an upgrade): no running container
// uses a volume while lifeboat writes into it. Before anything is written,
// the running users of every volume are looked at; if one lacks the label
// lifeboat.stop=true, nothing is stopped and the error (ErrInUse) names
// it. Otherwise they are stopped, and release starts them again once the
// writes are done (and after a failure). Pausing is not enough: a paused
// application keeps its own view of the files and would write it over
// what was restored once it resumed. --force never changes this: it says
// what to do with a volume's contents, not with its users.
func holdWriters(ctx context.Context, e Applications, r Reporter, volumes []string) (release func(context.Context), err error) {
	stop, err := stoppable(ctx, e, volumes)
	if err != nil {
		return func(context.Context) {}, err
	}
	var stopped []sidecar.User
	var since time.Time
	release = func(ctx context.Context) {
		for _, u := range stopped {
			ev := messages.Event{Time: time.Now(), Action: sidecar.ActionStart, Container: u.Name, Down: time.Since(since)}
			ev.DownSecs = ev.Down.Seconds()
			if err := e.Start(ctx, u.ID); err != nil {
				ev.Action, ev.Warning, ev.Message = sidecar.ActionFailed, true, fmt.Sprintf("start container %s again: %v", u.Name, err)
			} else {
				ev.Message = fmt.Sprintf("started container %s again (stopped for %s while lifeboat wrote into its volumes)", u.Name, ev.Down.Round(10*time.Millisecond))
			}
			r.Event(ev)
		}
	}
	since = time.Now()
	for _, u := range stop {
		r.Infof("stopping container %s: lifeboat writes into its volumes", u.Name)
		if err := e.Stop(ctx, u.ID, r.Event); err != nil {
			return release, fmt.Errorf("stop container %s: %w", u.Name, err)
		}
		stopped = append(stopped, u)
	}
	return release, nil
}

// refuseWriters fails with ErrInUse if a running container uses volume,
// labelled or not: for a write that cannot stop anybody any more (a round
// of copies already under way).
func refuseWriters(ctx context.Context, e Applications, volume string) error {
	users, err := e.RunningUsers(ctx, volume)
	if err != nil || len(users) == 0 {
		return err
	}
	return fmt.Errorf("volume %s: %s: %w", volume, users[0].Name, ErrInUse)
}

// stoppable returns the running users of volumes, each once, if all of
// them are labelled lifeboat.stop=true, and an ErrInUse error naming the
// others if not.
func stoppable(ctx context.Context, e Applications, volumes []string) ([]sidecar.User, error) {
	var stop []sidecar.User
	var refuse []string
	seen := map[string]bool{}
	for _, v := range volumes {
		users, err := e.RunningUsers(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			switch {
			case seen[u.ID]:
			case u.Labels[sidecar.LabelStop] == "true":
				stop = append(stop, u)
			default:
				refuse = append(refuse, fmt.Sprintf("%s (volume %s)", u.Name, v))
			}
			seen[u.ID] = true
		}
	}
	if len(refuse) > 0 {
		slices.Sort(refuse)
		return nil, fmt.Errorf("%s: %w, and lifeboat writes into a volume only while its users are stopped: stop it first, or label it %s=true so that lifeboat stops it and starts it again",
			strings.Join(refuse, ", "), ErrInUse, sidecar.LabelStop)
	}
	return stop, nil
}
