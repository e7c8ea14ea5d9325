// Command shim supervises one container for supervisord: see docs/shim.md.
//
//	shim --id ID --bundle DIR --runtime BINARY [--runtime-root DIR]
//	     [--runtime-arg ARG ...] [--runtime-standby] --socket PATH
//	     --state-dir DIR [--debug]
//
//	shim spare [--standby RUNTIME]
//
// is the same shim started before its container is known: it waits for the
// arguments above (and its log file, as stderr) on fd 4, and exits when fd 4
// is closed without them. Given berth's runtime, it readies that runtime's
// create, which it will run in its own process, meanwhile (the container's
// init started ahead; used when the arguments name that runtime with
// --runtime-standby).
//
// When fd 3 is a pipe, the shim writes "ok\n" (or "error: ...\n") to it once
// its socket listens, and closes it.
//
//	shim delete --id ID --bundle DIR --runtime BINARY [--runtime-root DIR]
//	     [--runtime-arg ARG ...] --state-dir DIR [--socket PATH]
//
// cleans up after a dead shim of that container and prints its exit record
// as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/shim/record"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) > 1 && os.Args[1] == shim.MaskExecArg {
		err := shim.MaskExec(os.Args[2:])
		fmt.Fprintln(os.Stderr, err)
		os.Exit(127)
	}
	// One idle shim per container: keep it small.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)

	// SIGPIPE from a vanished client must not kill the shim; SIGHUP and
	// SIGINT cannot reach it from a terminal (own session) but must not end
	// it either, so the container keeps its reaper. They are caught and
	// dropped rather than ignored: an ignored disposition survives execve and
	// would reach the runtime and the container, a caught one is reset.
	// Set up first: each signal is a round trip to Go's signal thread,
	// which a spare makes before it has a container.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE, syscall.SIGHUP, syscall.SIGINT)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	var early *shim.Early
	if len(os.Args) > 1 && os.Args[1] == record.SpareArg {
		// Started ahead of its container: the arguments come later, on fd 4.
		// Meanwhile the reaper runs and, given berth's runtime, its create
		// is readied.
		standbyRuntime, conn, ok := spareArgs(os.Args[2:])
		if !ok {
			log.Printf("error: usage: shim %s [%s] [%s RUNTIME]", record.SpareArg, record.SpareConnArg, record.SpareStandbyArg)
			os.Exit(2)
		}
		var err error
		if early, err = shim.StartEarly(standbyRuntime, conn); err != nil {
			log.Printf("error: %v", err)
			os.Exit(1)
		}
		// What the first requests would otherwise build (protobuf's
		// coders), while nothing waits for this shim.
		shim.WarmCodecs()
		args, err := awaitSpare(ctx)
		if errors.Is(err, shim.ErrSpareDropped) {
			os.Exit(0)
		}
		if err != nil {
			log.Printf("error: %v", err)
			os.Exit(1)
		}
		os.Args = append(os.Args[:1], args...)
	}

	cleanup := len(os.Args) > 1 && os.Args[1] == shim.DeleteArg
	if cleanup {
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	var cfg shim.Config
	var runtimeArgs multiFlag
	var debugLog bool
	flag.StringVar(&cfg.ID, "id", "", "container id")
	flag.StringVar(&cfg.Bundle, "bundle", "", "OCI bundle directory")
	flag.StringVar(&cfg.Runtime, "runtime", "", "OCI runtime binary (runc-compatible)")
	flag.StringVar(&cfg.RuntimeRoot, "runtime-root", "", "runtime --root")
	flag.Var(&runtimeArgs, "runtime-arg", "extra global runtime argument (repeatable)")
	flag.BoolVar(&cfg.RuntimeStandby, "runtime-standby", false, "the runtime is berth's: run its create, start, kill and delete in this process (where it cannot, start it ahead: `runtime standby`)")
	flag.StringVar(&cfg.Socket, "socket", "", "unix socket to serve the shim API on")
	flag.StringVar(&cfg.StateDir, "state-dir", "", "the shim's state directory")
	flag.BoolVar(&debugLog, "debug", false, "log more")
	flag.Parse()
	cfg.RuntimeArgs = runtimeArgs

	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetPrefix(fmt.Sprintf("shim[%d] ", os.Getpid()))
	if debugLog {
		log.Printf("config %+v", cfg)
	}

	if cleanup {
		rec, err := shim.Cleanup(cfg)
		if err != nil {
			log.Printf("error: %v", err)
			os.Exit(1)
		}
		if err := json.NewEncoder(os.Stdout).Encode(rec); err != nil {
			os.Exit(1)
		}
		return
	}

	ready := readyPipe()
	if err := shim.Run(ctx, cfg, ready, early); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

// awaitSpare waits for the spare's arguments on fd 4 (shim.AwaitSpare); a
// SIGTERM meanwhile drops the spare, as it did before the shim caught it.
func awaitSpare(ctx context.Context) ([]string, error) {
	type config struct {
		args []string
		err  error
	}
	got := make(chan config, 1)
	go func() {
		args, err := shim.AwaitSpare(4)
		got <- config{args, err}
	}()
	select {
	case c := <-got:
		return c.args, c.err
	case <-ctx.Done():
		return nil, shim.ErrSpareDropped
	}
}

// spareArgs reads a spare's arguments after "spare": with
// record.SpareConnArg, fd 5 is its API connection (kept from the
// processes it starts).
func spareArgs(args []string) (standbyRuntime string, conn net.Conn, ok bool) {
	if len(args) > 0 && args[0] == record.SpareConnArg {
		var st unix.Stat_t
		if err := unix.Fstat(5, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return "", nil, false
		}
		unix.CloseOnExec(5)
		f := os.NewFile(5, "api")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return "", nil, false
		}
		conn, args = c, args[1:]
	}
	switch {
	case len(args) == 2 && args[0] == record.SpareStandbyArg:
		return args[1], conn, true
	case len(args) == 0:
		return "", conn, true
	}
	if conn != nil {
		conn.Close()
	}
	return "", nil, false
}

// readyPipe returns fd 3 when the launcher passed a pipe there.
func readyPipe() *os.File {
	var st unix.Stat_t
	if err := unix.Fstat(3, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	unix.CloseOnExec(3)
	return os.NewFile(3, "ready")
}
