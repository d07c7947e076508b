// Package linkshape is a TCP proxy on 127.0.0.1 that makes a loopback
// connection behave like a wide-area link, for the bench harness: every
// byte arrives half a round-trip time after it was sent, and each direction
// has one rate that all connections share, as an uplink does. It counts
// the bytes each way, the connections, and the round trips (the times a
// client spoke again after the server had answered).
//
// This machine's kernel has no netem, so the shaping is done here: a
// reader takes what the sender wrote, books its time on the direction's
// link (its bytes at the link's rate, after what is already booked), and a
// writer delivers it one way's delay after it has left the link.
package linkshape

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Link is what the proxy imitates.
type Link struct {
	RTT time.Duration // round-trip time: half of it each way
	// Rate is bytes per second in each direction, shared by every
	// connection (0: unlimited).
	Rate int64
}

// Stats are what passed through the proxy.
type Stats struct {
	Up, Down    int64 // bytes client to server, server to client
	Connections int64
	RoundTrips  int64
}

// Sub is s minus an earlier snapshot: what passed in between.
func (s Stats) Sub(before Stats) Stats {
	return Stats{Up: s.Up - before.Up, Down: s.Down - before.Down,
		Connections: s.Connections - before.Connections, RoundTrips: s.RoundTrips - before.RoundTrips}
}

// Proxy forwards connections to a target through a shaped link.
type Proxy struct {
	ln       net.Listener
	target   string
	link     Link
	up, down direction

	upBytes, downBytes, conns, turns atomic.Int64
	wg                               sync.WaitGroup
	mu                               sync.Mutex
	open                             map[net.Conn]struct{}
}

// direction is one way of the link: when it is free again.
type direction struct {
	mu   sync.Mutex
	free time.Time
}

// book reserves the link for n bytes that arrived at now and returns when
// the last of them arrives at the other end.
func (d *direction) book(now time.Time, n int, link Link) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	start := now
	if d.free.After(start) {
		start = d.free
	}
	var wire time.Duration
	if link.Rate > 0 {
		wire = time.Duration(float64(n) / float64(link.Rate) * float64(time.Second))
	}
	d.free = start.Add(wire)
	return d.free.Add(link.RTT / 2)
}

// Start listens on 127.0.0.1 and forwards every connection to target.
func Start(target string, link Link) (*Proxy, error) {
	if link.RTT < 0 || link.Rate < 0 {
		return nil, errors.New("linkshape: a negative round-trip time or rate")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, link: link, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stats says what has passed so far.
func (p *Proxy) Stats() Stats {
	return Stats{Up: p.upBytes.Load(), Down: p.downBytes.Load(), Connections: p.conns.Load(), RoundTrips: p.turns.Load()}
}

// Close stops the proxy and cuts its connections.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.open = nil // a connection accepted meanwhile is refused
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.open, c) // a no-op once closed
		return true
	}
	if p.open == nil {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(client)
		}()
	}
}

// serve joins client and a new connection to the target, both ways.
func (p *Proxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(client, true) || !p.track(server, true) {
		return
	}
	defer p.track(client, false)
	defer p.track(server, false)
	// spoke is who sent last on this connection: a client that speaks
	// after the server did starts a round trip.
	var spoke atomic.Int32
	const (
		clientSpoke = 1
		serverSpoke = 2
	)
	done := make(chan struct{}, 2)
	go func() {
		p.forward(client, server, &p.up, &p.upBytes, func() {
			if spoke.Swap(clientSpoke) != clientSpoke {
				p.turns.Add(1)
			}
		})
		done <- struct{}{}
	}()
	go func() {
		p.forward(server, client, &p.down, &p.downBytes, func() { spoke.Store(serverSpoke) })
		done <- struct{}{}
	}()
	<-done
	<-done
}

// piece is what one read took from the sender, and when it arrives.
type piece struct {
	data []byte
	at   time.Time
}

// forward copies src to dst through one direction of the link, then
// half-closes dst, so that a request's end still reaches the server.
func (p *Proxy) forward(src, dst net.Conn, d *direction, count *atomic.Int64, sent func()) {
	queue := make(chan piece, 64) // at most 2 MiB in flight per direction
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				sent()
				count.Add(int64(n))
				queue <- piece{data: buf[:n], at: d.book(time.Now(), n, p.link)}
			}
			if err != nil {
				return
			}
		}
	}()
	for pc := range queue {
		if wait := time.Until(pc.at); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := dst.Write(pc.data); err != nil {
			src.Close() // the other side is gone: stop reading
			for range queue {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}
