package soak_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/benchtest"
	"github.com/castnet/castnet/internal/bench/soak"
)

// castnet is the binary TestMain builds for the part to run nodes from.
var castnet string

func TestMain(m *testing.M) { benchtest.Main(m, &castnet) }

func TestShortRunMeasuresMemoryAndSoaks(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := t.TempDir()
	part := soak.New()
	if part.Name() != "soak" {
		t.Errorf("name %q", part.Name())
	}
	r, err := part.Run(ctx, bench.Env{Exe: castnet, Out: out, Short: true, FFmpeg: "ffmpeg", Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Part != "soak" || !r.Short || r.Method == "" || len(r.Goals) != 3 {
		t.Errorf("result: part %q short %v, %d goals", r.Part, r.Short, len(r.Goals))
	}
	d, ok := r.Data.(*soak.Data)
	if !ok {
		t.Fatalf("data is %T", r.Data)
	}
	if len(d.PerStream) == 0 || d.PerStream[0].Streams == 0 || d.PerStream[0].Heap <= 0 || d.PerStream[0].Goroutines <= 0 {
		t.Errorf("memory per stream: %+v", d.PerStream)
	}
	if len(d.Samples) < 4 {
		t.Errorf("%d samples", len(d.Samples))
	}
	if st := d.SoakPublishers; st.Started == 0 || st.Clean+st.Dropped+st.Killed+st.Errors != st.Started {
		t.Errorf("soak publishers: %+v", st)
	}
	if d.End.Live != 0 {
		t.Errorf("%d streams still live at the end", d.End.Live)
	}
	for _, p := range r.Profiles {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("profile %s: %v", p, err)
		}
	}
	if len(r.Profiles) < 3 {
		t.Errorf("profiles %v, want idle, with streams, soak start and end", r.Profiles)
	}
	for _, tb := range r.Tables {
		if len(tb.Rows) == 0 {
			t.Errorf("table %q has no rows", tb.Title)
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
