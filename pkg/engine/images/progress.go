package images

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Message is one line of dockerd's JSON progress stream. It has the legacy
// "progress" (the rendered bar) and "error" fields that older clients and
// docker-py read, besides what jsonstream.Message has.
type Message struct {
	Stream         string               `json:"stream,omitempty"`
	Status         string               `json:"status,omitempty"`
	ProgressDetail *jsonstream.Progress `json:"progressDetail,omitempty"`
	Progress       string               `json:"progress,omitempty"`
	ID             string               `json:"id,omitempty"`
	ErrorDetail    *jsonstream.Error    `json:"errorDetail,omitempty"`
	Error          string               `json:"error,omitempty"`
	Aux            any                  `json:"aux,omitempty"`
}

// Stream writes messages, one JSON object per line. Until the first message
// nothing is written, so a caller can still answer an early failure with a
// plain HTTP error (dockerd does the same: docker prints those differently).
type Stream struct {
	mu      sync.Mutex
	w       io.Writer
	start   func() // called once before the first message (writes headers)
	started bool
	flush   func()
}

// NewStream returns a Stream on w; start (may be nil) runs before the first
// message, flush (may be nil) after every message.
func NewStream(w io.Writer, start, flush func()) *Stream {
	return &Stream{w: w, start: start, flush: flush}
}

// Started tells whether a message was written.
func (s *Stream) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Send writes one message.
func (s *Stream) Send(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		if s.start != nil {
			s.start()
		}
	}
	b, _ := json.Marshal(m)
	_, _ = s.w.Write(append(b, '\r', '\n'))
	if s.flush != nil {
		s.flush()
	}
}

// Status sends a status line for id ("" for the whole operation). A
// layer's line carries an empty progressDetail, as dockerd's does: the
// docker CLI redraws in place only the lines that have one, and would
// print "Pull complete" on a new line below the layers otherwise.
func (s *Stream) Status(id, status string) {
	m := Message{Status: status, ID: id}
	if id != "" {
		m.ProgressDetail = &jsonstream.Progress{}
	}
	s.Send(m)
}

// Fail sends an error inside the stream.
func (s *Stream) Fail(err error) {
	s.Send(Message{ErrorDetail: &jsonstream.Error{Message: err.Error()}, Error: err.Error()})
}

// progressMessage is a transfer step with dockerd's rendered bar.
func progressMessage(id, action string, current, total int64) Message {
	p := &jsonstream.Progress{Current: current, Total: total}
	return Message{Status: action, ID: id, ProgressDetail: p, Progress: RenderBar(current, total)}
}

// ShortID is the 12 hex characters dockerd shows for a blob or image.
func ShortID(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 {
		digest = digest[i+1:]
	}
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

type layerState struct {
	downloaded, extracting, done bool
}

// PullProgress turns the supervisor's per-blob steps into dockerd's pull
// lines. It is not safe for concurrent use; Pull calls it from one stream.
type PullProgress struct {
	out         *Stream
	tagOrDigest string // id of the "Pulling from" line
	repo        string // familiar path, "library/busybox"
	layers      map[string]*layerState
	header      bool
	// Fetched is set once any blob was downloaded or extracted: "Downloaded
	// newer image" rather than "Image is up to date".
	Fetched bool
}

// NewPullProgress writes to out for repo (reference.Path of the name) and
// tagOrDigest.
func NewPullProgress(out *Stream, repo, tagOrDigest string) *PullProgress {
	return &PullProgress{out: out, repo: repo, tagOrDigest: tagOrDigest, layers: map[string]*layerState{}}
}

// Header sends "Pulling from" once: the first thing dockerd says after it
// resolved the reference.
func (p *PullProgress) Header() {
	if !p.header {
		p.header = true
		p.out.Send(Message{Status: "Pulling from " + p.repo, ID: p.tagOrDigest}) // no progressDetail: not a layer line
	}
}

// Step handles one supervisor progress message.
func (p *PullProgress) Step(pr *supervisorv1.Progress) {
	status := strings.ToLower(pr.GetStatus())
	if pr.GetId() == "" || status == "resolving" || status == "resolved" {
		// About the whole image (the manifest): dockerd shows nothing.
		return
	}
	p.Header()
	id := ShortID(pr.GetId())
	st := p.layers[id]
	if st == nil {
		st = &layerState{}
		p.layers[id] = st
		if status != "exists" {
			p.out.Send(Message{Status: "Pulling fs layer", ID: id, ProgressDetail: &jsonstream.Progress{}})
		}
	}
	if st.done {
		return
	}
	switch status {
	case "waiting":
		p.out.Status(id, "Waiting")
	case "downloading":
		p.Fetched = true
		p.out.Send(progressMessage(id, "Downloading", pr.GetCurrent(), pr.GetTotal()))
	case "verifying":
		p.out.Status(id, "Verifying Checksum")
	case "downloaded":
		p.downloadComplete(id, st)
	case "extracting":
		p.Fetched = true
		p.downloadComplete(id, st)
		st.extracting = true
		p.out.Send(progressMessage(id, "Extracting", pr.GetCurrent(), pr.GetTotal()))
	case "exists":
		st.done = true
		p.out.Status(id, "Already exists")
	case "done", "complete", "unpacked":
		if st.extracting || p.Fetched && status == "unpacked" {
			st.done = true
			p.out.Status(id, "Pull complete")
		} else {
			p.downloadComplete(id, st)
		}
	default:
		if status != "" {
			p.out.Status(id, strings.ToUpper(status[:1])+status[1:])
		}
	}
}

func (p *PullProgress) downloadComplete(id string, st *layerState) {
	if !st.downloaded {
		st.downloaded = true
		p.out.Status(id, "Download complete")
	}
}

// Finish sends the closing lines: digest and status for ref (familiar).
// upToDate is whether the name pointed at this manifest before the pull.
func (p *PullProgress) Finish(manifestDigest, ref string, upToDate bool) {
	p.Header()
	p.out.Status("", "Digest: "+manifestDigest)
	if upToDate && !p.Fetched {
		p.out.Status("", "Status: Image is up to date for "+ref)
	} else {
		p.out.Status("", "Status: Downloaded newer image for "+ref)
	}
}

// PushProgress turns the supervisor's per-blob push steps into dockerd's
// push lines.
type PushProgress struct {
	out    *Stream
	layers map[string]bool // done
	order  []string
	skip   map[string]bool
}

// Skip hides a blob's steps: dockerd shows layers only, not the config.
func (p *PushProgress) Skip(digest string) {
	if digest != "" {
		p.skip[ShortID(digest)] = true
	}
}

// NewPushProgress sends "The push refers to repository [name]" (the
// repository as the user wrote it, docker.io names in full).
func NewPushProgress(out *Stream, repository string) *PushProgress {
	out.Status("", "The push refers to repository ["+repository+"]")
	return &PushProgress{out: out, layers: map[string]bool{}, skip: map[string]bool{}}
}

// Step handles one supervisor progress message.
func (p *PushProgress) Step(pr *supervisorv1.Progress) {
	if pr.GetId() == "" {
		return
	}
	status := strings.ToLower(pr.GetStatus())
	id := ShortID(pr.GetId())
	if p.skip[id] {
		return
	}
	done, seen := p.layers[id]
	if done {
		return
	}
	if !seen {
		p.layers[id] = false
		p.order = append(p.order, id)
		if status != "exists" && !strings.HasPrefix(status, "mounted") {
			p.out.Status(id, "Preparing")
		}
	}
	switch {
	case status == "waiting":
		p.out.Status(id, "Waiting")
	case status == "pushing" || status == "uploading":
		p.out.Send(progressMessage(id, "Pushing", pr.GetCurrent(), pr.GetTotal()))
	case status == "exists":
		p.layers[id] = true
		p.out.Status(id, "Layer already exists")
	case strings.HasPrefix(status, "mounted"):
		p.layers[id] = true
		from := strings.TrimSpace(strings.TrimPrefix(pr.GetStatus()[len("mounted"):], " from"))
		if from != "" {
			p.out.Status(id, "Mounted from "+from)
		} else {
			p.out.Status(id, "Mounted")
		}
	case status == "done" || status == "pushed" || status == "complete":
		p.layers[id] = true
		p.out.Status(id, "Pushed")
	case status != "":
		p.out.Status(id, strings.ToUpper(status[:1])+status[1:])
	}
}

// PushResult is the aux object dockerd sends after a pushed tag.
type PushResult struct {
	Tag    string
	Digest string
	Size   int64
}

// Finish sends "<tag>: digest: sha256:... size: N" and the aux result.
func (p *PushProgress) Finish(tag, digest string, size int64) {
	// A blob whose upload ended without a step of its own is pushed once
	// its manifest is.
	for _, id := range p.order {
		if !p.layers[id] {
			p.layers[id] = true
			p.out.Status(id, "Pushed")
		}
	}
	p.out.Status("", fmt.Sprintf("%s: digest: %s size: %d", tag, digest, size))
	p.out.Send(Message{ProgressDetail: &jsonstream.Progress{}, Aux: PushResult{Tag: tag, Digest: digest, Size: size}})
}

// RenderBar draws dockerd's progress bar: "[====>      ]  1.2MB/3.4MB".
func RenderBar(current, total int64) string {
	const width = 50
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	n := int(float64(width) * float64(current) / float64(total))
	if n > width {
		n = width
	}
	if n < 0 {
		n = 0
	}
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8v/%v", bar, units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}
