package supervisor

import (
	"context"
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// eventsService streams the broker's events of the caller's namespace.
type eventsService struct {
	pb.UnimplementedEventsServer
	s *Server
}

func (es *eventsService) Subscribe(req *pb.SubscribeRequest, stream pb.Events_SubscribeServer) error {
	ns, err := namespaceOf(stream.Context())
	if err != nil {
		return err
	}
	sub := es.s.events.Subscribe(ns, req.Topics)
	defer sub.Close()
	// The header tells the client it is subscribed: nothing published from
	// now on is missed.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				if sub.Dropped() {
					return fmt.Errorf("event subscriber fell too far behind: %w", errdefs.ErrUnavailable)
				}
				return fmt.Errorf("supervisor is shutting down: %w", errdefs.ErrUnavailable)
			}
			if err := stream.Send(e); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// publish sends an event of the caller's namespace.
func (s *Server) publish(ctx context.Context, e *pb.Envelope) {
	ns, err := namespaceOf(ctx)
	if err != nil {
		return
	}
	e.Namespace = ns
	s.events.Publish(e)
}
