package shim

import (
	"context"
	"errors"
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim/cgroups"
	"github.com/berthd/berth/pkg/shim/procinfo"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// cgroup finds the cgroup of the container's init, which must be alive.
func (s *service) cgroup() (*cgroups.Cgroup, error) {
	s.mu.Lock()
	status, pid := s.status, s.pid
	s.mu.Unlock()
	if pid == 0 || status == shimv1.Status_STATUS_UNKNOWN || status == shimv1.Status_STATUS_STOPPED {
		return nil, fmt.Errorf("container %s is %s: %w", s.cfg.ID, statusName(status), errdefs.ErrFailedPrecondition)
	}
	cg, err := cgroups.OfPid(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", s.cfg.ID, err)
	}
	return cg, nil
}

func (s *service) Stats(ctx context.Context, req *shimv1.StatsRequest) (*shimv1.StatsResponse, error) {
	cg, err := s.cgroup()
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	st := cg.Stats()
	if req.GetDetail() {
		st.Detail = cg.Detail()
	}
	return st, nil
}

func (s *service) Pids(ctx context.Context, req *shimv1.PidsRequest) (*shimv1.PidsResponse, error) {
	cg, err := s.cgroup()
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s: %w", s.cfg.ID, err))
	}
	byPid := map[int]string{}
	s.mu.Lock()
	execs := make([]*execProcess, 0, len(s.execs))
	for _, p := range s.execs {
		execs = append(execs, p)
	}
	s.mu.Unlock()
	for _, p := range execs {
		p.mu.Lock()
		if p.pid > 0 && p.exit == nil {
			byPid[p.pid] = p.id
		}
		p.mu.Unlock()
	}
	r, err := procinfo.New()
	if err != nil {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s: %w", s.cfg.ID, err))
	}
	resp := &shimv1.PidsResponse{Processes: make([]*shimv1.ProcessInfo, 0, len(pids))}
	for _, p := range pids {
		info := &shimv1.ProcessInfo{Pid: p, ExecId: byPid[int(p)]}
		if err := r.Fill(info); errors.Is(err, errdefs.ErrNotFound) {
			continue // exited since the cgroup was read
		} else if err != nil {
			return nil, errdefs.ToGRPC(fmt.Errorf("container %s: %w", s.cfg.ID, err))
		}
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}
