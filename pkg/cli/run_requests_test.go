package cli

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestLog records when each request of interest reached the engine.
type requestLog struct {
	mu      sync.Mutex
	arrived map[string][]time.Time // by the path's last element
}

func (l *requestLog) add(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.arrived[what] = append(l.arrived[what], time.Now())
}

func (l *requestLog) get(what string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.arrived[what]...)
}

// slowEngine is the fake engine answering the requests whose path ends in
// one of delay's keys that much later; every request is logged.
func slowEngine(t *testing.T, delay map[string]time.Duration) (string, *requestLog) {
	log := &requestLog{arrived: map[string][]time.Time{}}
	host := engineWrapped(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			what := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			log.add(what)
			time.Sleep(delay[what])
			h.ServeHTTP(w, r)
		})
	})
	return host, log
}

// run negotiates the API version while it parses its flags, and its
// create waits for that negotiation rather than pinging again.
func TestRunNegotiatesOnce(t *testing.T) {
	host, log := slowEngine(t, map[string]time.Duration{"_ping": 50 * time.Millisecond})
	for _, args := range [][]string{{"run", "--rm", "busybox", "echo"}, {"create", "busybox"}, {"run", "-d", "busybox", "sleep"}} {
		before := len(log.get("_ping"))
		if out, errOut, code := ctl(t, host, args...); code != 0 {
			t.Fatalf("%v: %d %q %q", args, code, out, errOut)
		}
		if n := len(log.get("_ping")) - before; n != 1 {
			t.Errorf("%v: %d pings, want 1", args, n)
		}
	}
	if p, c := log.get("_ping"), log.get("create"); len(c) != 3 || !p[0].Before(c[0]) {
		t.Errorf("pings %v, creates %v", p, c)
	}
}

// An attached run makes its attach and its wait at once, and starts only
// when both are in place.
func TestRunAttachesAndWaitsAtOnce(t *testing.T) {
	const slow = 300 * time.Millisecond
	for _, what := range []string{"attach", "wait"} {
		host, log := slowEngine(t, map[string]time.Duration{what: slow})
		if out, errOut, code := ctl(t, host, "run", "--rm", "busybox", "echo", "hi"); code != 0 || out != "hi\n" {
			t.Fatalf("run: %d %q %q", code, out, errOut)
		}
		a, w, s := log.get("attach"), log.get("wait"), log.get("start")
		if len(a) != 1 || len(w) != 1 || len(s) != 1 {
			t.Fatalf("attach %v, wait %v, start %v", a, w, s)
		}
		// Made one after the other, the second would come after the
		// first's delay.
		if d := w[0].Sub(a[0]).Abs(); d >= slow {
			t.Errorf("%s slowed: attach and wait %v apart", what, d)
		}
		if d := s[0].Sub(log.get(what)[0]); d < slow {
			t.Errorf("%s slowed: start came %v after it, before its answer", what, d)
		}
	}
}
