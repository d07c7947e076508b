package retry

import (
	"errors"
	"net"
	"syscall"
)

// isNetworkError recognises connection-level failures: refused, reset,
// aborted, broken pipe, unreachable, and any *net.OpError.
func isNetworkError(err error) bool {
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	var op *net.OpError
	return errors.As(err, &op)
}
