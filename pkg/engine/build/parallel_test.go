package build

import (
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/engine/images"
)

// Parallel stages' output is shown in stage order: a later stage's
// messages wait until the earlier stages finish.
func TestSeqOutputOrder(t *testing.T) {
	var got []string
	parent := &Output{send: func(m images.Message) { got = append(got, m.Stream) }}
	seq := newSeqOutput(parent, []int{0, 2, 5})
	o0, o2, o5 := seq.output(0), seq.output(2), seq.output(5)
	o5.printf("5a ")
	o0.printf("0a ")
	o2.printf("2a ")
	o5.printf("5b ")
	seq.finish(5)
	o0.printf("0b ")
	seq.finish(0)
	o2.printf("2b ")
	seq.finish(2)
	if s := strings.Join(got, ""); s != "0a 0b 2a 2b 5a 5b " {
		t.Errorf("order: %q", s)
	}
}
