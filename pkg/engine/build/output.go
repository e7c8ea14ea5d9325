package build

import (
	"fmt"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berthd/berth/pkg/engine/images"
)

// Output writes the classic builder's stream: "stream" lines the docker
// CLI and docker-py print as they come, and an "aux" message with the
// image ID (what `docker build -q` and docker-py return).
type Output struct {
	S     *images.Stream
	Quiet bool // only the aux message and errors
	// send, when set, takes the messages instead of S (a stage's output
	// sequenced among parallel stages).
	send func(images.Message)
}

func (o *Output) emit(m images.Message) {
	if o.send != nil {
		o.send(m)
	} else if o.S != nil {
		o.S.Send(m)
	}
}

func (o *Output) printf(format string, a ...any) {
	if o.Quiet {
		return
	}
	o.emit(images.Message{Stream: fmt.Sprintf(format, a...)})
}

// Write passes a RUN step's output through as "stream" messages.
func (o *Output) Write(p []byte) (int, error) {
	if !o.Quiet && len(p) > 0 {
		o.emit(images.Message{Stream: string(p)})
	}
	return len(p), nil
}

func (o *Output) aux(id string) {
	if o.S != nil {
		o.S.Send(images.Message{Aux: map[string]string{"ID": id}})
	}
}

// Fail sends err inside the stream with its code (a failed RUN's exit
// code, which the docker CLI exits with).
func (o *Output) Fail(err error) {
	if o.S == nil {
		return
	}
	code := 0
	if se, ok := err.(*StepError); ok {
		code = se.Code
	}
	o.S.Send(images.Message{ErrorDetail: &jsonstream.Error{Code: code, Message: err.Error()}, Error: err.Error()})
}
