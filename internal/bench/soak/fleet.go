package soak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/castnet/castnet/internal/publish"
)

// errNoDelete is what the dropping publishers' transport answers a DELETE
// with, so that the request never leaves the process.
var errNoDelete = errors.New("soak: DELETE withheld (abrupt drop)")

// Tally counts the publishers of a phase by how they ended.
type Tally struct {
	Started int `json:"started"`
	// Clean ended with a DELETE, Dropped without one (PeerConnection
	// closed), Killed as a SIGKILLed child process.
	Clean   int `json:"clean"`
	Dropped int `json:"dropped"`
	Killed  int `json:"killed"`
	// Errors counts publishers that failed (refused offer, no connection,
	// lost connection, a child that died by itself); FirstErrors keeps a
	// few of their messages.
	Errors      int      `json:"errors"`
	FirstErrors []string `json:"first_errors,omitempty"`
}

// fleetConfig is what every publisher of a fleet shares.
type fleetConfig struct {
	exe    string // castnet, for killed publishers
	ffmpeg string
	base   string // node URL; publishers go to base/whip/NAME
	media  *publish.Media
	pub    publish.Config // size and rate of killed children too
}

// fleet runs publishers against one node and counts how they end.
type fleet struct {
	cfg      fleetConfig
	clean    *http.Client // sends DELETE
	nodelete *http.Client // withholds it
	wg       sync.WaitGroup

	mu      sync.Mutex
	tally   Tally
	running int
}

func newFleet(cfg fleetConfig) *fleet {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &fleet{cfg: cfg,
		clean:    &http.Client{Transport: tr},
		nodelete: &http.Client{Transport: withholdDelete{tr}},
	}
}

// withholdDelete fails every DELETE before it is sent.
type withholdDelete struct{ next http.RoundTripper }

// RoundTrip sends everything but DELETE.
func (w withholdDelete) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodDelete {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errNoDelete
	}
	return w.next.RoundTrip(r)
}

// start runs one publisher until its life (0: until ctx ends) is over.
func (f *fleet) start(ctx context.Context, s Spawn) {
	f.mu.Lock()
	f.tally.Started++
	f.running++
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.publish(ctx, s)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.running--
		if err != nil {
			f.tally.Errors++
			if len(f.tally.FirstErrors) < 5 {
				f.tally.FirstErrors = append(f.tally.FirstErrors, fmt.Sprintf("%s (%s): %v", s.Name, s.End, err))
			}
			return
		}
		switch s.End {
		case EndClean:
			f.tally.Clean++
		case EndDropped:
			f.tally.Dropped++
		case EndKilled:
			f.tally.Killed++
		}
	}()
}

func (f *fleet) publish(ctx context.Context, s Spawn) error {
	if s.End == EndKilled {
		return f.kill(ctx, s)
	}
	cfg := f.cfg.pub
	cfg.URL = f.cfg.base + "/whip/" + s.Name
	cfg.HTTPClient = f.clean
	if s.End == EndDropped {
		cfg.HTTPClient = f.nodelete
		if s.Life > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.Life)
			defer cancel()
		}
	} else {
		cfg.Duration = s.Life
	}
	st, err := publish.Publish(ctx, cfg, f.cfg.media)
	if err == nil && st.Duration == 0 && ctx.Err() == nil {
		err = errors.New("ended without sending")
	}
	if err != nil && ctx.Err() != nil && st.Duration == 0 {
		// Cancelled before it connected: the soak ended under it.
		return nil
	}
	return err
}

// kill runs `castnet publish` for s.Life (or until ctx ends), then kills
// it, ffmpeg included, without warning.
func (f *fleet) kill(ctx context.Context, s Spawn) error {
	p := f.cfg.pub
	cmd := exec.Command(f.cfg.exe, "publish", "-test-pattern",
		"-width", strconv.Itoa(p.Width), "-height", strconv.Itoa(p.Height),
		"-fps", strconv.Itoa(p.FPS), "-bitrate", strconv.Itoa(p.Bitrate),
		"-ffmpeg", f.cfg.ffmpeg, f.cfg.base+"/whip/"+s.Name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	life := time.NewTimer(s.Life)
	defer life.Stop()
	select {
	case err := <-exited:
		return fmt.Errorf("castnet publish exited by itself (%v): %s", err, stderr)
	case <-life.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return nil
}

// wait returns once every publisher started has ended.
func (f *fleet) wait() {
	f.wg.Wait()
	f.clean.CloseIdleConnections()
}

// counts is the tally so far and the publishers running now.
func (f *fleet) counts() (Tally, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tally
	t.FirstErrors = append([]string(nil), t.FirstErrors...)
	return t, f.running
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

// Write keeps p's tail.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// String returns the tail.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
