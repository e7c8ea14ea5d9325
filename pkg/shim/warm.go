package shim

import (
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// startPath are the shim API calls of every container's life: their
// messages are the ones warmed (all of the API's took 3 ms, most for calls
// a container may never see).
var startPath = []protoreflect.Name{"Create", "Start", "Attach", "Wait", "Kill", "Delete", "Shutdown"}

// WarmCodecs builds what protobuf otherwise builds on a message type's first
// use (its field coders, from the descriptors) for the messages of the calls
// on a container's path and ttrpc's envelope, and the messages they hold. A
// spare does it while it waits for its container; left to the first
// requests, it was part of every container's create (perf: protobuf's
// MessageInfo.initOnce, about a tenth of a shim's CPU over a run).
func WarmCodecs() {
	seen := map[protoreflect.FullName]bool{}
	methods := shimv1.File_berth_shim_v1_shim_proto.Services().Get(0).Methods()
	for _, name := range startPath {
		if m := methods.ByName(name); m != nil {
			warmMessage(m.Input(), seen)
			warmMessage(m.Output(), seen)
		}
	}
	envelope := ttrpc.File_request_proto.Messages()
	for i := 0; i < envelope.Len(); i++ {
		warmMessage(envelope.Get(i), seen)
	}
}

// warmMessage marshals and unmarshals an empty md, then the messages its
// fields hold.
func warmMessage(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
	if seen[md.FullName()] {
		return
	}
	seen[md.FullName()] = true
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		m := mt.New().Interface()
		if b, err := proto.Marshal(m); err == nil {
			_ = proto.Unmarshal(b, m)
		}
	}
	fs := md.Fields()
	for i := 0; i < fs.Len(); i++ {
		if f := fs.Get(i); f.Message() != nil {
			warmMessage(f.Message(), seen)
		}
	}
}
