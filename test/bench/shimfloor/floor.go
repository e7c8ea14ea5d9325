// Package shimfloor is what the two floor programs below it share. They are
// the floor under cmd/shim's idle memory (docs/shim.md, Memory): listen is a
// Go program that only accepts connections on a unix socket, ttrpc one that
// serves an empty ttrpc server there. Both are built as the shim is and are
// measured by `shimbench floor` (scripts/bench-shim.sh).
//
// Their imports are the point: every package linked in adds text, data and
// heap made at init, which is what a floor measures. So they import what
// listening and serving need (net, os, os/signal, syscall, runtime, and ttrpc
// for the second) and no fmt or flag: the socket path is os.Args[1] and
// errors are written to stderr as strings. (ttrpc brings fmt and protobuf
// with it; that is part of its floor.)
//
//	listen SOCKET
//	ttrpc SOCKET
//
// Each removes a stale socket at SOCKET, listens there, and exits 0 on
// SIGTERM.
package shimfloor

import (
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Run is a floor program's main: GOMAXPROCS(1) first, as cmd/shim; then it
// serves the socket named by the only argument with serve until SIGTERM,
// closes the listener (which removes the socket) and returns. An error
// (usage, listen, serve) is printed and ends the program with status 1 (2
// for usage).
func Run(serve func(net.Listener) error) {
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: " + os.Args[0] + " SOCKET\n")
		os.Exit(2)
	}
	sock := os.Args[1]
	// Caught before the socket appears: whoever waits for it may then stop
	// us with SIGTERM and see status 0.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		fail(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		fail(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(l) }()
	select {
	case <-term:
		l.Close()
	case err := <-errc:
		fail(err)
	}
}

func fail(err error) {
	os.Stderr.WriteString(os.Args[0] + ": " + err.Error() + "\n")
	os.Exit(1)
}
