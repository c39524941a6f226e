package transcode

import (
	"bytes"
	"strings"
	"sync"
)

// Bounds of the stderr tail kept for error messages.
const (
	stderrLines   = 20
	stderrLineMax = 512
)

// lineRing is an io.Writer that keeps the last few lines written to it,
// each cut to a maximum length, so a chatty or hostile child cannot grow
// castnet's memory. onLine, when set, sees every complete line.
type lineRing struct {
	mu      sync.Mutex
	max     int
	lines   []string // oldest first, at most max
	partial []byte   // an unterminated line, at most stderrLineMax bytes
	onLine  func(string)
}

func newLineRing(max int, onLine func(string)) *lineRing {
	return &lineRing{max: max, onLine: onLine}
}

// Write never fails: losing stderr must not fail the transcode.
func (r *lineRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			r.appendPartial(p)
			break
		}
		r.appendPartial(p[:i])
		r.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (r *lineRing) appendPartial(p []byte) {
	room := stderrLineMax - len(r.partial)
	r.partial = append(r.partial, p[:min(room, len(p))]...)
}

func (r *lineRing) endLine() {
	line := strings.TrimSpace(strings.ToValidUTF8(string(r.partial), "?"))
	r.partial = r.partial[:0]
	if line == "" {
		return
	}
	if r.onLine != nil {
		r.onLine(line)
	}
	if r.max <= 0 {
		return
	}
	if len(r.lines) == r.max {
		r.lines = append(r.lines[:0], r.lines[1:]...)
	}
	r.lines = append(r.lines, line)
}

// Tail returns the kept lines, oldest first, including an unterminated last
// line.
func (r *lineRing) Tail() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.partial) > 0 {
		r.endLine()
	}
	return append([]string(nil), r.lines...)
}

// String joins the tail into one message, "" when nothing was written.
func (r *lineRing) String() string { return strings.Join(r.Tail(), " | ") }
