package remote

import (
	"context"
	"hash"
	"io"
	"net/http"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/castnet/castnet/internal/transcode"
)

// Headers that carry castnet/2's signed records and payments
// (docs/protocol.md, "Trust"). Each value is base64url JSON.
const (
	// HeaderPayment carries the broadcaster's tickets for a segment.
	HeaderPayment = "Castnet-Payment"
	// HeaderSegment carries the broadcaster's signed Segment record: a
	// header when the upload is whole, an HTTP trailer when the segment
	// streams (its hash is known only after the last byte).
	HeaderSegment = "Castnet-Segment"
	// HeaderReceipt carries the orchestrator's signed TranscodeReceipt
	// and the transcoder's signed TranscodeResult.
	HeaderReceipt = "Castnet-Receipt"
	// HeaderResult carries a transcoder's signed TranscodeResult to its
	// orchestrator.
	HeaderResult = "Castnet-Result"
)

// SegmentSum is what the bytes of a segment were: keccak256 and length.
type SegmentSum struct {
	Keccak common.Hash
	Size   int64
}

// Sealer signs and pays for a client's requests and checks the signed
// answers (internal/trust implements it). A Client without one sends
// unsigned requests.
type Sealer interface {
	// Headers returns headers to add before the request goes (payment).
	Headers(ctx context.Context, job transcode.Job) (http.Header, error)
	// Segment returns the HeaderSegment value once the segment's last byte
	// was read.
	Segment(ctx context.Context, job transcode.Job, sum SegmentSum) (string, error)
	// Answer checks the answer's headers against the renditions and
	// returns the proof to attach to each rendition (Rendition.Proof). It
	// is called only for renditions the client's check accepted, and ends
	// the request whatever it returns. Work it accepts is settled even when
	// ctx ends meanwhile: the renditions were delivered.
	Answer(ctx context.Context, job transcode.Job, sum SegmentSum, hdr http.Header, rends []transcode.Rendition) (string, error)
	// Failed ends a request Headers paid for that no answer reached
	// Answer for: code is the node's refusal (402: its view of our credit
	// or terms differs), 0 when none came (the request failed, or the
	// renditions were unreadable or refused before Answer).
	Failed(ctx context.Context, job transcode.Job, code int)
}

// Gate admits segments at a node and vouches for its answers (internal/
// trust implements it). Admit runs before any work: payment and identity.
type Gate interface {
	Admit(r *http.Request, job transcode.Job) (Admission, error)
}

// Admission is one admitted segment.
type Admission interface {
	// Input checks the broadcaster's HeaderSegment value against the bytes
	// received, once they all were; an error refuses the segment.
	Input(segment string, sum SegmentSum) error
	// Answer returns headers vouching for the renditions (the receipt).
	Answer(rends []transcode.Rendition) (http.Header, error)
	// Close ends the admission (releasing reserved credit when Answer was
	// not reached); always called.
	Close()
}

// Checker is an Admission that can tell, before Answer, whether it will
// vouch for renditions. A Handler whose Transcoder is a Mover has it
// check each node's renditions, so that a node whose answer the gate
// would refuse fails its own job and the segment moves on, instead of
// this node failing the segment.
type Checker interface {
	// Check runs Input's checks on its arguments and Answer's on rends,
	// signing and charging nothing; it may run beside Input and Answer.
	// An error of class 502 (httpx.ErrBadGateway) is the renditions'
	// fault, any other the input's.
	Check(segment string, sum SegmentSum, rends []transcode.Rendition) error
}

// Mover is a Transcoder that spreads segments over nodes (the
// orchestrator's transcoder pool). TranscodeMoving holds each node's
// renditions to check once the job's Input has been read to its end, and
// moves the segment to another node when check refuses them, as when the
// node fails. A nil check checks nothing.
type Mover interface {
	TranscodeMoving(ctx context.Context, job transcode.Job, check Check) ([]transcode.Rendition, error)
}

// Summer hashes what is read through it.
type Summer struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	eof bool
}

// NewSummer reads r, hashing its bytes with keccak256 as they are read
// when hash is set (only signed work needs the hash: the bytes are not
// hashed for nothing on the hot path).
func NewSummer(r io.Reader, hash bool) *Summer {
	s := &Summer{r: r}
	if hash {
		s.h = crypto.NewKeccakState()
	}
	return s
}

// Read reads and hashes; once the reader ended, it keeps answering EOF
// without touching it (it may be closed by then).
func (s *Summer) Read(p []byte) (int, error) {
	if s.eof {
		return 0, io.EOF
	}
	n, err := s.r.Read(p)
	if s.h != nil {
		s.h.Write(p[:n])
	}
	s.n += int64(n)
	s.eof = err == io.EOF
	return n, err
}

// Close closes the underlying reader when it is a Closer.
func (s *Summer) Close() error {
	if c, ok := s.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Sum returns the hash (zero when not hashing) and length so far.
func (s *Summer) Sum() SegmentSum {
	if s.h == nil {
		return SegmentSum{Size: s.n}
	}
	return SegmentSum{Keccak: common.BytesToHash(s.h.Sum(nil)), Size: s.n}
}
