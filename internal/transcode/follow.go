package transcode

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// followEvery is how often a job's outputs are read while ffmpeg writes
// them: a fraction of an LL-HLS part (300-500 ms), so following adds little
// to a part's latency, at a few cheap reads a second per rendition.
const followEvery = 40 * time.Millisecond

// follower hands a job's outputs to Job.Partial as ffmpeg writes them, by
// reading each output file's new bytes every followEvery. Files keep the
// ffmpeg arguments the same for every job (and for the benchmarks that run
// them by hand); ffmpeg is told to flush each packet (muxArgs).
type follower struct {
	job   Job
	dir   string
	files []*os.File
	sent  []int64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// follow starts following job's outputs in dir, if the job wants them.
func follow(job Job, dir string) *follower {
	fo := &follower{job: job, dir: dir, files: make([]*os.File, len(job.Profiles)), sent: make([]int64, len(job.Profiles)),
		stop: make(chan struct{}), done: make(chan struct{})}
	if job.Partial == nil {
		close(fo.done)
		return fo
	}
	go fo.loop()
	return fo
}

func (fo *follower) loop() {
	defer close(fo.done)
	defer fo.closeFiles()
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-fo.stop:
			fo.readAll() // what ffmpeg wrote last, before it exited
			return
		case <-t.C:
			fo.readAll()
		}
	}
}

// readAll reads every output's new bytes.
func (fo *follower) readAll() {
	for i := range fo.files {
		fo.read(i)
	}
}

// read sends output i's new bytes, opening it once ffmpeg has made it.
func (fo *follower) read(i int) {
	if fo.files[i] == nil {
		f, err := os.Open(filepath.Join(fo.dir, OutputName(i)))
		if err != nil {
			return // not written yet
		}
		fo.files[i] = f
	}
	for {
		buf := make([]byte, 64<<10)
		n, err := fo.files[i].Read(buf)
		if n > 0 {
			fo.job.Partial(fo.job.Profiles[i].Name, fo.sent[i], buf[:n])
			fo.sent[i] += int64(n)
		}
		if n < len(buf) || err == io.EOF || err != nil {
			return
		}
	}
}

func (fo *follower) closeFiles() {
	for _, f := range fo.files {
		if f != nil {
			_ = f.Close()
		}
	}
}

// finish reads what is left and waits: every byte ffmpeg wrote has been
// handed to Partial when it returns. Call it after ffmpeg exits.
func (fo *follower) finish() {
	fo.once.Do(func() { close(fo.stop) })
	<-fo.done
}
