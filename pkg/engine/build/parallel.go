package build

import (
	"context"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/berthd/berth/pkg/engine/images"
)

// shared is the state of a build its stages share while they run in
// parallel.
type shared struct {
	mu      sync.Mutex
	built   map[int]*stageState // stages done (their image composed)
	used    map[string]bool     // build args consumed
	tmpRefs []string            // containers to remove at the end
}

func newShared() *shared {
	return &shared{built: map[int]*stageState{}, used: map[string]bool{}}
}

func (s *shared) builtStage(i int) *stageState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.built[i]
}

func (s *shared) setBuilt(i int, st *stageState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.built[i] = st
}

func (s *shared) markUsed(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used[k] = true
}

func (s *shared) isUsed(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[k]
}

func (s *shared) addTmpRef(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tmpRefs = append(s.tmpRefs, id)
}

func (s *shared) takeTmpRefs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.tmpRefs
	s.tmpRefs = nil
	return out
}

// deps are the earlier stages stage i is built from (FROM), copies from
// (COPY --from) or binds (RUN --mount=type=bind,from=).
func (j *job) deps(i int) []int {
	var out []int
	s := j.stages[i]
	if dep, ok := j.stageIndex(s.BaseName, i); ok {
		out = append(out, dep)
	}
	for _, c := range s.Commands {
		var froms []string
		switch c := c.(type) {
		case *instructions.CopyCommand:
			froms = append(froms, c.From)
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				froms = append(froms, m.From)
			}
		}
		for _, from := range froms {
			if dep, ok := j.stageIndex(from, i); from != "" && ok {
				out = append(out, dep)
			}
		}
	}
	return out
}

// needed marks the stages the target depends on: the others are skipped.
func (j *job) needed(target int) (map[int]bool, error) {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range j.deps(i) {
			visit(d)
		}
	}
	visit(target)
	return need, nil
}

// buildStages builds the needed stages, each as soon as the stages it
// depends on are done, so independent stages run in parallel. Each
// stage's output is held back until the stages before it in the
// Dockerfile have shown theirs, so the stream reads as a sequential
// build's (the same step numbers and order). The first failure cancels
// the other stages. Every stage but the target has its image composed
// when it ends (dependents only read it).
func (j *job) buildStages(ctx context.Context, need map[int]bool, target int) (*stageState, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var order []int
	offset := map[int]int{}
	done := map[int]chan struct{}{}
	n := 0
	for i := 0; i <= target; i++ {
		if need[i] {
			order = append(order, i)
			offset[i] = n
			n += 1 + len(j.stages[i].Commands)
			done[i] = make(chan struct{})
		}
	}
	seq := newSeqOutput(j.out, order)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	for _, i := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer seq.finish(i)
			defer close(done[i])
			for _, d := range j.deps(i) {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
				if j.builtStage(d) == nil {
					return // it failed
				}
			}
			sj := *j
			sj.out, sj.step = seq.output(i), offset[i]
			st, err := sj.buildStage(ctx, i)
			if err == nil && i != target {
				_, err = sj.finish(ctx, st)
			}
			if err != nil {
				fail(err)
				return
			}
			j.setBuilt(i, st)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return j.builtStage(target), nil
}

// seqOutput passes the stages' messages to the build's output in stage
// order: the earliest unfinished stage's go out as they come, the
// others' are held until it is their turn.
type seqOutput struct {
	mu       sync.Mutex
	out      *Output
	order    []int
	cur      int
	held     map[int][]images.Message
	finished map[int]bool
}

func newSeqOutput(out *Output, order []int) *seqOutput {
	return &seqOutput{out: out, order: order, held: map[int][]images.Message{}, finished: map[int]bool{}}
}

// output is stage i's Output.
func (s *seqOutput) output(i int) *Output {
	return &Output{S: s.out.S, Quiet: s.out.Quiet, send: func(m images.Message) { s.send(i, m) }}
}

func (s *seqOutput) send(i int, m images.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur < len(s.order) && s.order[s.cur] == i {
		s.out.emit(m)
		return
	}
	s.held[i] = append(s.held[i], m)
}

// finish ends stage i's output and passes on what the next stages held.
func (s *seqOutput) finish(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished[i] = true
	for s.cur < len(s.order) && s.finished[s.order[s.cur]] {
		s.cur++
		if s.cur < len(s.order) {
			next := s.order[s.cur]
			for _, m := range s.held[next] {
				s.out.emit(m)
			}
			delete(s.held, next)
		}
	}
}
