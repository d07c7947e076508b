package linkshape

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// echo serves connections that send back what they receive, until the
// client half-closes.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, link Link) *Proxy {
	t.Helper()
	p, err := Start(echo(t), link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Bytes arrive intact and in order both ways, a half-close passes through,
// and every byte is counted.
func TestBytesArriveIntactAndCounted(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	data := make([]byte, 3<<20+17)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := start(t, Link{RTT: 2 * time.Millisecond, Rate: 100 << 20})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echoed %d of %d bytes, equal %v (%v)", len(got), len(data), bytes.Equal(got, data), err)
	}
	if s := p.Stats(); s.Up != int64(len(data)) || s.Down != int64(len(data)) || s.Connections != 1 || s.RoundTrips < 1 {
		t.Fatalf("stats %+v, want %d bytes each way on one connection", s, len(data))
	}
}

// A client that waits for each answer pays the round-trip time each time,
// and each exchange counts as one round trip. Only lower bounds are
// asserted: a busy machine makes everything slower, never faster.
func TestRoundTripsCostTheirTime(t *testing.T) {
	const rtt, exchanges = 30 * time.Millisecond, 5
	p := start(t, Link{RTT: rtt})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	buf := make([]byte, 4)
	for i := 0; i < exchanges; i++ {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("exchange %d: %q %v", i, buf, err)
		}
	}
	if took := time.Since(begin); took < exchanges*rtt {
		t.Fatalf("%d exchanges took %s, less than %d round trips of %s", exchanges, took, exchanges, rtt)
	}
	if s := p.Stats(); s.RoundTrips != exchanges || s.Up != 4*exchanges {
		t.Fatalf("stats %+v, want %d round trips", s, exchanges)
	}
}

// The rate is shared by every connection in a direction: two uploads side
// by side take as long as their sum at the rate.
func TestRateIsShared(t *testing.T) {
	const rate, each = 2 << 20, 512 << 10
	p := start(t, Link{Rate: rate})
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			go func() {
				_, _ = c.Write(make([]byte, each))
				_ = c.(*net.TCPConn).CloseWrite()
			}()
			n, err := io.Copy(io.Discard, c)
			if err == nil && n != each {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if took, floor := time.Since(begin), time.Duration(2*each)*time.Second/rate; took < floor {
		t.Fatalf("two uploads of %d bytes took %s, less than %s at %d bytes/s", each, took, floor, rate)
	}
	if s := p.Stats(); s.Connections != 2 || s.Up != 2*each {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadLinkRefused(t *testing.T) {
	for _, l := range []Link{{RTT: -time.Millisecond}, {Rate: -1}} {
		if p, err := Start("127.0.0.1:1", l); err == nil {
			p.Close()
			t.Errorf("%+v accepted", l)
		}
	}
}

// Close cuts open connections and returns.
func TestCloseEndsConnections(t *testing.T) {
	p, err := Start(echo(t), Link{RTT: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open after Close")
	}
}
