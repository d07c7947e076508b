// Package workers runs indexed jobs on a bounded number of goroutines.
package workers

import (
	"context"
	"sync"
	"sync/atomic"
)

// ForEach calls fn(0), ..., fn(n-1) on at most limit goroutines. The first
// error cancels the context passed to fn, stops handing out jobs, and is
// returned once every running call has returned. A cancelled parent
// context stops it too, returning ctx.Err().
func ForEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  atomic.Int64
	)
	if limit < 1 {
		limit = 1
	}
	for w := 0; w < limit && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}
