// Command tcpbench measures TCP throughput for make bench: "sink" accepts
// connections and discards what they send (it runs in a container, built
// static), "send" writes to an address for a while and prints MB/s.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpbench sink -l ADDR | send -addr ADDR [-d DURATION]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	switch os.Args[1] {
	case "sink":
		l := fs.String("l", ":5001", "listen address")
		fs.Parse(os.Args[2:])
		if err := sink(*l); err != nil {
			fmt.Fprintln(os.Stderr, "tcpbench:", err)
			os.Exit(1)
		}
	case "send":
		addr := fs.String("addr", "", "address to send to")
		d := fs.Duration("d", 3*time.Second, "how long to send")
		fs.Parse(os.Args[2:])
		mbs, err := send(*addr, *d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcpbench:", err)
			os.Exit(1)
		}
		fmt.Printf("%.0f\n", mbs)
	default:
		fmt.Fprintln(os.Stderr, "tcpbench: unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func sink(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			io.Copy(io.Discard, c)
			c.Close() // tells the sender everything arrived
		}()
	}
}

// send writes for d and returns MB/s counted until the sink has read
// everything (it closes its side once the sender's EOF arrives).
func send(addr string, d time.Duration) (float64, error) {
	var c net.Conn
	var err error
	for i := 0; i < 50; i++ { // the sink may still be starting
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	start := time.Now()
	var n int64
	for time.Since(start) < d {
		w, err := c.Write(buf)
		n += int64(w)
		if err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}
