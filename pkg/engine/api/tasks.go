package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// hijack takes over the connection and writes dockerd's answer to an
// attach or exec start: 101 UPGRADED when the client asked to upgrade,
// else 200, with the stream's media type.
func (s *Server) hijack(w http.ResponseWriter, r *http.Request, media string) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	status, extra := "200 OK", ""
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		status = "101 UPGRADED"
		extra = "Connection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\nContent-Type: %s\r\n%sApi-Version: %s\r\nServer: Berth/%s (linux)\r\n\r\n", status, media, extra, DefaultVersion, s.cfg.Version)
	if err := buf.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, buf, nil
}

// lateReader is a reader whose source is known only after the hijack.
type lateReader struct{ r io.Reader }

func (l *lateReader) Read(p []byte) (int, error) {
	if l.r == nil {
		return 0, io.EOF
	}
	return l.r.Read(p)
}

// ttySize reads ?h= and ?w=.
func ttySize(r *http.Request) (width, height uint32, err error) {
	h, herr := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, werr := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if herr != nil || werr != nil {
		return 0, 0, badRequest("invalid tty size: h=%q w=%q", r.URL.Query().Get("h"), r.URL.Query().Get("w"))
	}
	return uint32(wd), uint32(h), nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) {
	width, height, err := ttySize(r)
	if err == nil {
		err = s.d.Resize(r.Context(), r.PathValue("id"), width, height)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Pause(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Unpause(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerExecCreate(w http.ResponseWriter, r *http.Request) {
	var req container.ExecCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	e, err := s.d.ExecCreate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: e.ID})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	var req container.ExecStartRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, badRequest("invalid JSON: %v", err))
		return
	}
	// The exec outlives the request context, which ends with the hijack.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	run, e, err := s.d.PrepareExecStart(ctx, r.PathValue("id"), req.Detach)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Detach {
		if err := run(nil, io.Discard, io.Discard); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	tty := e.Config.Tty
	media := mediaMultiplexed
	if tty {
		media = mediaRaw
	}
	conn, buf, err := s.hijack(w, r, media)
	if err != nil {
		s.log.Warn("exec start", "err", err)
		run(nil, io.Discard, io.Discard)
		return
	}
	defer conn.Close()
	fw := &failWriter{w: conn, cancel: cancel}
	stdout, stderr := outputs(fw, tty)
	if err := run(buf.Reader, stdout, stderr); err != nil {
		// The stream is already open: the error goes to the client's stderr.
		fmt.Fprintf(stderr, "%v\n", err)
	}
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	e, err := s.d.GetExec(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	st := e.State()
	cfg := e.Config
	priv := cfg.Privileged
	resp := container.ExecInspectResponse{
		ID: e.ID, ContainerID: e.ContainerID, Running: st.Running, ExitCode: st.ExitCode, Pid: st.Pid,
		OpenStdin: cfg.AttachStdin, OpenStdout: cfg.AttachStdout, OpenStderr: cfg.AttachStderr,
		DetachKeys: e.DetachKeys, CanRemove: !st.Running && st.ExitCode != nil,
		ProcessConfig: &container.ExecProcessConfig{Tty: cfg.Tty, Entrypoint: cfg.Cmd[0], Arguments: cfg.Cmd[1:], Privileged: &priv, User: cfg.User},
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	width, height, err := ttySize(r)
	if err == nil {
		err = s.d.ExecResize(r.Context(), r.PathValue("id"), width, height)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// events streams docker event messages: the recorded ones since ?since=,
// then new ones until ?until= (or the client leaves).
func (s *Server) eventsStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := ParseTimestamp(q.Get("since"))
	if err != nil {
		writeError(w, badRequest("invalid value for 'since': %v", err))
		return
	}
	until, err := ParseTimestamp(q.Get("until"))
	if err != nil {
		writeError(w, badRequest("invalid value for 'until': %v", err))
		return
	}
	if !until.IsZero() && until.Before(since) {
		writeError(w, badRequest("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until")))
		return
	}
	f, err := parseFilters(q.Get("filters"))
	if err == nil {
		err = validateEventFilters(f)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	past, ch, cancel := s.d.SubscribeEvents()
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(m events.Message) bool {
		t := time.Unix(0, m.TimeNano)
		if (!since.IsZero() && t.Before(since)) || (!until.IsZero() && t.After(until)) || !matchEvent(f, m) {
			return true
		}
		if err := enc.Encode(m); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !since.IsZero() {
		for _, m := range past {
			send(m)
		}
	}
	var end <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return
		}
		end = time.After(d)
	}
	for {
		select {
		case m := <-ch:
			if !send(m) {
				return
			}
		case <-end:
			return
		case <-r.Context().Done():
			return
		}
	}
}
