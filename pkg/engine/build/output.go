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
}

func (o *Output) printf(format string, a ...any) {
	if o.Quiet || o.S == nil {
		return
	}
	o.S.Send(images.Message{Stream: fmt.Sprintf(format, a...)})
}

// Write passes a RUN step's output through as "stream" messages.
func (o *Output) Write(p []byte) (int, error) {
	if !o.Quiet && o.S != nil && len(p) > 0 {
		o.S.Send(images.Message{Stream: string(p)})
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
