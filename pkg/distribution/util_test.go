package distribution

import (
	"bytes"
	"time"
)

var epochZero = time.Time{}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
