package remote

// The transcoder link (castnet/2, T ↔ O): the wire types both sides share.
// A transcoder node (T) dials out to its orchestrator (O) and holds one
// long-lived GET open; O streams newline-delimited JSON events down it and
// T fetches each job's input and posts its result with separate requests,
// so bulk media never delays the control channel. See docs/protocol.md.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

// Endpoints of the transcoder link, as http.ServeMux patterns (the Job*Path
// functions build the concrete job paths).
const (
	SessionPath       = "/v1/transcoders/session"
	JobInputPattern   = "/v1/jobs/{job}/input"
	JobResultPattern  = "/v1/jobs/{job}/result"
	JobFailurePattern = "/v1/jobs/{job}/failure"
)

// Framing and limits of the transcoder link.
const (
	// SessionContentType is the session stream's media type: one JSON
	// object per line.
	SessionContentType = "application/x-ndjson"
	// HeaderFailure carries a failure's class (FailureInput or
	// FailureTranscoder).
	HeaderFailure = "Castnet-Failure"
	// MaxEventLine bounds one session line, newline included.
	MaxEventLine = 64 << 10
	// MaxFailureReason bounds a failure's plain-text reason.
	MaxFailureReason = 4 << 10
	// MaxCapacity is the most jobs one session may offer to run at once.
	MaxCapacity = 64
	// MaxTranscoderName bounds a transcoder's name and id.
	MaxTranscoderName = 64
	// MaxStreamLabel bounds a job's stream label.
	MaxStreamLabel = 256
	// DefaultHeartbeat is the ping interval O announces by default.
	DefaultHeartbeat = 5 * time.Second
)

const (
	maxHeartbeat = time.Hour
	maxLadder    = 16
	jobIDLength  = 32 // 128 bits, lowercase hex
)

// Failure classes a transcoder reports in HeaderFailure.
const (
	// FailureInput means the media itself could not be transcoded; another
	// transcoder would fail the same way.
	FailureInput = "input"
	// FailureTranscoder means this transcoder failed (its ffmpeg is missing,
	// its disk is full, the input stream broke); another may succeed.
	FailureTranscoder = "transcoder"
)

// Event types of the session stream.
const (
	EventHello  = "hello"
	EventJob    = "job"
	EventCancel = "cancel"
	EventPing   = "ping"
)

// ErrBadEvent means a session line broke the protocol: not JSON, a known
// type with bad fields, or a line over MaxEventLine.
var ErrBadEvent = errors.New("bad transcoder link event")

// Event is one line of the session stream. Which fields are set depends on
// Type: hello has Transcoder and Heartbeat; job has Job, Stream, Seq, the
// source size and Profiles; cancel has Job; ping has nothing.
type Event struct {
	Type string
	// Transcoder is the id O gave this session (hello).
	Transcoder string
	// Heartbeat is how often O pings (hello); T treats three missed
	// heartbeats as a dead link.
	Heartbeat time.Duration
	// Job is the dispatch's id (job, cancel): 32 lowercase hex digits.
	Job string
	// Stream and Seq label the segment (job).
	Stream string
	Seq    uint64
	// SourceWidth and SourceHeight are the input's coded size (job).
	SourceWidth, SourceHeight int
	// Profiles is the ladder to produce (job), as in castnet/2.
	Profiles []transcode.Profile
	// Streamed asks for the result streamed as it is made (job): a
	// StreamedType body. A transcoder that does not know the field posts
	// it whole, which the orchestrator takes as well.
	Streamed bool
}

// eventJSON is Event on the wire. Stream and Seq are pointers so a job line
// always carries them (seq 0 and an empty stream are legal) while other
// types leave them out.
type eventJSON struct {
	Type        string              `json:"type"`
	Transcoder  string              `json:"transcoder,omitempty"`
	HeartbeatMS int64               `json:"heartbeat_ms,omitempty"`
	Job         string              `json:"job,omitempty"`
	Stream      *string             `json:"stream,omitempty"`
	Seq         *uint64             `json:"seq,omitempty"`
	Source      string              `json:"source,omitempty"`
	Profiles    []transcode.Profile `json:"profiles,omitempty"`
	Streamed    bool                `json:"streamed,omitempty"`
}

// EncodeEvent validates e and returns it as one session line, newline
// included.
func EncodeEvent(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	w := eventJSON{Type: e.Type}
	switch e.Type {
	case EventHello:
		w.Transcoder, w.HeartbeatMS = e.Transcoder, e.Heartbeat.Milliseconds()
	case EventJob:
		w.Job, w.Stream, w.Seq = e.Job, &e.Stream, &e.Seq
		w.Source, w.Profiles, w.Streamed = formatSize(e.SourceWidth, e.SourceHeight), e.Profiles, e.Streamed
	case EventCancel:
		w.Job = e.Job
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	return append(b, '\n'), nil
}

// ParseEvent decodes and validates one session line (without its newline).
// Unknown fields are ignored and an unknown type is returned as is with no
// other field set, so O can add events that older transcoders skip.
func ParseEvent(line []byte) (Event, error) {
	var w eventJSON
	if err := json.Unmarshal(bytes.TrimSpace(line), &w); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	e := Event{Type: w.Type}
	switch w.Type {
	case EventHello:
		if w.HeartbeatMS < 1 || w.HeartbeatMS > maxHeartbeat.Milliseconds() {
			return Event{}, fmt.Errorf("%w: hello: heartbeat_ms %d is outside 1..%d", ErrBadEvent, w.HeartbeatMS, maxHeartbeat.Milliseconds())
		}
		e.Transcoder, e.Heartbeat = w.Transcoder, time.Duration(w.HeartbeatMS)*time.Millisecond
	case EventJob:
		if w.Seq == nil {
			return Event{}, fmt.Errorf("%w: job: no seq", ErrBadEvent)
		}
		sw, sh, err := parseSize(w.Source)
		if err != nil {
			return Event{}, fmt.Errorf("%w: job: source: %v", ErrBadEvent, err)
		}
		e.Job, e.Seq, e.SourceWidth, e.SourceHeight, e.Profiles, e.Streamed = w.Job, *w.Seq, sw, sh, w.Profiles, w.Streamed
		if w.Stream != nil {
			e.Stream = *w.Stream
		}
	case EventCancel:
		e.Job = w.Job
	case EventPing:
	case "":
		return Event{}, fmt.Errorf("%w: no type", ErrBadEvent)
	default:
		return Event{Type: w.Type}, nil
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Validate checks e's fields for its type; O calls it before dispatching a
// job, so a job T would refuse as a protocol error is refused at O instead.
func (e Event) Validate() error {
	var err error
	switch e.Type {
	case EventHello:
		err = CheckTranscoderID(e.Transcoder)
		if err == nil && (e.Heartbeat < time.Millisecond || e.Heartbeat > maxHeartbeat) {
			err = fmt.Errorf("heartbeat %v is outside 1ms..1h", e.Heartbeat)
		}
	case EventJob:
		err = errors.Join(CheckJobID(e.Job), checkStreamLabel(e.Stream), checkLadder(e.Profiles))
		if _, _, serr := parseSize(formatSize(e.SourceWidth, e.SourceHeight)); serr != nil {
			err = errors.Join(err, fmt.Errorf("source: %v", serr))
		}
	case EventCancel:
		err = CheckJobID(e.Job)
	case EventPing:
	default:
		err = fmt.Errorf("unknown type %q", e.Type)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadEvent, e.Type, err)
	}
	return nil
}

// CheckJobID reports whether id is a job id: 32 lowercase hex digits (128
// random bits, so a job's URL is also its capability).
func CheckJobID(id string) error {
	if len(id) != jobIDLength {
		return fmt.Errorf("job id %q is not %d hex digits", id, jobIDLength)
	}
	for _, c := range []byte(id) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("job id %q is not lowercase hex", id)
		}
	}
	return nil
}

// CheckTranscoderID reports whether id is a usable transcoder id: 1 to 64
// of A-Z a-z 0-9 . _ -.
func CheckTranscoderID(id string) error {
	if id == "" {
		return errors.New("transcoder id is empty")
	}
	return checkNameChars("transcoder id", id, MaxTranscoderName)
}

// CheckTranscoderName reports whether name may label a transcoder: empty,
// or 1 to 64 of A-Z a-z 0-9 . _ -.
func CheckTranscoderName(name string) error {
	return checkNameChars("transcoder name", name, MaxTranscoderName)
}

func checkNameChars(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s is longer than %d characters", what, max)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q may contain only A-Z, a-z, 0-9, '.', '_' and '-'", what, s)
		}
	}
	return nil
}

func checkStreamLabel(s string) error {
	if len(s) > MaxStreamLabel {
		return fmt.Errorf("stream label is longer than %d bytes", MaxStreamLabel)
	}
	return nil
}

// checkLadder applies castnet/2's ladder rules (1 to 16 profiles, every
// encoded rung valid) and also refuses a repeated name, source included,
// since the result could not tell the two renditions apart.
func checkLadder(ps []transcode.Profile) error {
	if len(ps) == 0 || len(ps) > maxLadder {
		return fmt.Errorf("want 1 to %d profiles, got %d", maxLadder, len(ps))
	}
	var rungs []transcode.Profile
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		if seen[p.Name] {
			return fmt.Errorf("profile %q is repeated", p.Name)
		}
		seen[p.Name] = true
		if !p.IsSource() {
			rungs = append(rungs, p)
		}
	}
	if len(rungs) > 0 {
		return transcode.ValidateProfiles(rungs)
	}
	return nil
}

// JobInputPath is where T reads job id's input.
func JobInputPath(id string) string { return jobPath(id, "input") }

// JobResultPath is where T posts job id's renditions.
func JobResultPath(id string) string { return jobPath(id, "result") }

// JobFailurePath is where T reports that job id failed.
func JobFailurePath(id string) string { return jobPath(id, "failure") }

func jobPath(id, what string) string { return "/v1/jobs/" + id + "/" + what }

// ParseFailureClass checks a HeaderFailure value.
func ParseFailureClass(s string) (string, error) {
	switch s {
	case FailureInput, FailureTranscoder:
		return s, nil
	}
	return "", fmt.Errorf("%w: %s %q: want %q or %q", ErrBadRequest, HeaderFailure, s, FailureInput, FailureTranscoder)
}

// TruncateReason cuts a failure reason to MaxFailureReason bytes, dropping
// a UTF-8 sequence the cut split.
func TruncateReason(s string) string {
	if len(s) <= MaxFailureReason {
		return s
	}
	return strings.ToValidUTF8(s[:MaxFailureReason], "")
}

// SessionParams is what T offers when it opens a session.
type SessionParams struct {
	// Capacity is how many jobs T runs at once, 1..MaxCapacity.
	Capacity int
	// Name labels T in O's logs and API; optional.
	Name string
}

// Encode returns p as a query string (without '?').
func (p SessionParams) Encode() string {
	q := "capacity=" + strconv.Itoa(p.Capacity)
	if p.Name != "" {
		q += "&name=" + url.QueryEscape(p.Name)
	}
	return q
}
