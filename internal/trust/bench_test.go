package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// BenchmarkTrustPerSegment measures what trust adds to one segment, on
// every role, against the CPU ffmpeg spends transcoding that same segment
// (the goal: under 1 %).
//
// Setup, outside the timer: a 2 s 1280x720 30 fps segment as `castnet
// publish -test-pattern` sends it (H.264 baseline at 2.5 Mb/s, an IDR a
// second, Opus), transcoded by transcode.FFmpeg into the default ladder
// (source, 480p, 360p) three times; the median of ffmpeg's user + system
// CPU (Result.Stats) is the baseline, and the renditions of that run are
// the ones every iteration signs and checks. Each sub-benchmark builds its
// own broadcaster, orchestrator and transcoder keys, a real SQLite ledger
// file both B and O use as their broker (as `castnet dev` does), a
// recipient charging 3 wei per pixel with the default face value, and an
// httptest /api/info?sender= serving the recipient's ticket parameters.
// The sealer caches those terms for 30 s, so their fetch is not part of a
// segment's steady state: fetch_terms measures it on its own.
//
// Sub-benchmarks:
//
//   - all: one segment through every step, as B, O and T run them: B's
//     payment (sealer.Headers: Sender.Pay on the ledger, encoded), B's
//     signed Segment record, O's Admit (ParsePayment, Recipient.Receive,
//     Reserve), the keccak256 of the input bytes at B, O and T (remote's
//     Summer), O's Input check, T's Vouch, O's Answer and B's Answer. The
//     publisher is on the broadcaster's allowed list: no bill.
//   - all_billed: the same for a publisher billed from its ledger balance,
//     which adds one synced SQLite write transaction to B's Answer.
//   - one step each: B_pay, B_sign_segment, O_receive_payment,
//     O_check_input, T_vouch, O_answer, B_answer, B_bill_publisher, and
//     B_record_custody (the custody log line and the kept source bytes,
//     which is bookkeeping, not in all); and the pieces several steps
//     share: pixels (trust.Pixels, run by T, O
//     and B), hash_renditions (keccak256 of every rendition, by T, O and
//     B), hash_input (keccak256 of the input, by B, O and T).
//
// Metrics: ns/op is wall time; cpu-ns/op is this process's user + system
// CPU over the loop (getrusage), which also counts the garbage collector
// on the other core; pct_of_transcode_cpu is cpu-ns/op as a percentage
// of the segment's ffmpeg CPU; tickets/op is tickets per segment.
func BenchmarkTrustPerSegment(b *testing.B) {
	seg := tpsTranscode(b)
	b.Logf("input %d bytes; renditions %s; ffmpeg CPU per run %v, median %v", len(seg.src), tpsSizes(seg.rends),
		seg.runs, seg.cpu)

	b.Run("all", func(b *testing.B) { tpsAll(b, seg, "allowed") })
	b.Run("all_billed", func(b *testing.B) { tpsAll(b, seg, "billed") })

	b.Run("B_pay", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		hdrs := make([]http.Header, 0, b.N)
		fx.start(b)
		for range b.N {
			hdr, err := fx.sealer.Headers(fx.ctx, job)
			if err != nil {
				b.Fatal(err)
			}
			hdrs = append(hdrs, hdr)
			// B's settle books the receipt's cost (part of B_answer).
			fx.snd.Debited(fx.oKey.Address, fx.cost)
		}
		fx.stop(b)
		tickets := 0
		for _, hdr := range hdrs {
			tickets += tpsTickets(b, hdr)
		}
		b.ReportMetric(float64(tickets)/float64(b.N), "tickets/op")
	})

	b.Run("B_sign_segment", func(b *testing.B) {
		fx := newTPS(b, seg)
		fx.start(b)
		for i := range b.N {
			if _, err := fx.sealer.Segment(context.Background(), fx.job("allowed", uint64(i)), fx.sum); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("O_receive_payment", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		// The payments B makes segment after segment, written first.
		pays := make([]string, b.N)
		tickets := 0
		for i := range pays {
			hdr, err := fx.sealer.Headers(fx.ctx, job)
			if err != nil {
				b.Fatal(err)
			}
			tickets += tpsTickets(b, hdr)
			pays[i] = hdr.Get(remote.HeaderPayment)
			fx.snd.Debited(fx.oKey.Address, fx.cost)
		}
		req := httptest.NewRequest(http.MethodPost, remote.Path, nil)
		fx.start(b)
		for i := range b.N {
			req.Header.Set(remote.HeaderPayment, pays[i])
			adm, err := fx.orch.Admit(req, job)
			if err != nil {
				b.Fatal(err)
			}
			adm.Close()
			// O's Answer debits what the segment cost (part of O_answer).
			fx.rcpt.Debit(fx.bKey.Address, fx.cost)
		}
		fx.stop(b)
		b.ReportMetric(float64(tickets)/float64(b.N), "tickets/op")
	})

	b.Run("O_check_input", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		adm := fx.admit(b, job)
		v, err := fx.sealer.Segment(context.Background(), job, fx.sum)
		if err != nil {
			b.Fatal(err)
		}
		fx.start(b)
		for range b.N {
			if err := adm.Input(v, fx.sum); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("T_vouch", func(b *testing.B) {
		fx := newTPS(b, seg)
		vouch := Vouch(fx.tKey, fx.d)
		fx.start(b)
		for range b.N {
			if _, err := vouch(fx.sum, seg.rends); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("O_answer", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		adm := fx.admit(b, job)
		v, err := fx.sealer.Segment(context.Background(), job, fx.sum)
		if err != nil {
			b.Fatal(err)
		}
		if err := adm.Input(v, fx.sum); err != nil {
			b.Fatal(err)
		}
		rends := fx.vouched(b)
		fx.start(b)
		for range b.N {
			if _, err := adm.Answer(rends); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("B_answer", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		adm := fx.admit(b, job)
		v, err := fx.sealer.Segment(context.Background(), job, fx.sum)
		if err != nil {
			b.Fatal(err)
		}
		if err := adm.Input(v, fx.sum); err != nil {
			b.Fatal(err)
		}
		rends := fx.vouched(b)
		hdr, err := adm.Answer(rends)
		if err != nil {
			b.Fatal(err)
		}
		s := fx.sealer.(*sealer)
		k := signedKey{job.Stream, job.Seq, fx.sum.Keccak}
		rec := s.signed[k]
		fx.start(b)
		for range b.N {
			// What Segment kept for this segment (Answer takes it out).
			s.mu.Lock()
			s.signed[k], s.order = rec, append(s.order, k)
			s.mu.Unlock()
			if _, err := fx.sealer.Answer(context.Background(), job, fx.sum, hdr, rends); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("B_record_custody", func(b *testing.B) {
		fx := newTPS(b, seg)
		job := fx.job("allowed", 1)
		adm := fx.admit(b, job)
		v, err := fx.sealer.Segment(context.Background(), job, fx.sum)
		if err != nil {
			b.Fatal(err)
		}
		if err := adm.Input(v, fx.sum); err != nil {
			b.Fatal(err)
		}
		rends := fx.vouched(b)
		hdr, err := adm.Answer(rends)
		if err != nil {
			b.Fatal(err)
		}
		proof, err := fx.sealer.Answer(context.Background(), job, fx.sum, hdr, rends)
		if err != nil {
			b.Fatal(err)
		}
		var names []string
		for _, r := range rends {
			names = append(names, r.Profile.Name)
		}
		dir := b.TempDir()
		fx.start(b)
		for range b.N {
			if err := fx.bc.Record(Published{Dir: dir, Stream: job.Stream, Seq: job.Seq, Source: seg.src,
				Names: names, Proof: proof, Payer: job.Payer}); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("B_bill_publisher", func(b *testing.B) {
		fx := newTPS(b, seg)
		fx.start(b)
		for i := range b.N {
			if _, err := fx.led.Bill(fx.ctx, fx.billed.Address, "billed/1/"+strconv.Itoa(i), fx.cost); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})

	b.Run("pixels", func(b *testing.B) {
		fx := newTPS(b, seg)
		fx.start(b)
		for range b.N {
			if px, err := Pixels(seg.rends); err != nil || px != fx.px {
				b.Fatal(px, err)
			}
		}
		fx.stop(b)
	})

	b.Run("hash_renditions", func(b *testing.B) {
		fx := newTPS(b, seg)
		b.SetBytes(int64(tpsBytes(seg.rends)))
		fx.start(b)
		for range b.N {
			renditionHashes(seg.rends)
		}
		fx.stop(b)
	})

	b.Run("hash_input", func(b *testing.B) {
		fx := newTPS(b, seg)
		b.SetBytes(int64(len(seg.src)))
		fx.start(b)
		for range b.N {
			sign.Keccak(seg.src)
		}
		fx.stop(b)
	})

	b.Run("fetch_terms", func(b *testing.B) {
		fx := newTPS(b, seg)
		s := fx.sealer.(*sealer)
		fx.start(b)
		for range b.N {
			if _, err := s.terms(fx.ctx, true); err != nil {
				b.Fatal(err)
			}
		}
		fx.stop(b)
	})
}

// tpsAll runs whole segments of a stream through B, O and T.
func tpsAll(b *testing.B, seg *tpsSegment, stream string) {
	fx := newTPS(b, seg)
	vouch := Vouch(fx.tKey, fx.d)
	req := httptest.NewRequest(http.MethodPost, remote.Path, nil)
	rends := slices.Clone(seg.rends)
	before := fx.rcpt.Stats().Tickets
	fx.start(b)
	for i := range b.N {
		job := fx.job(stream, uint64(i))
		// B: pays ahead, streams the segment (hashing it) and signs its
		// record at the last byte.
		hdr, err := fx.sealer.Headers(fx.ctx, job)
		if err != nil {
			b.Fatal(err)
		}
		bSum := tpsSum(seg.src)
		segHdr, err := fx.sealer.Segment(context.Background(), job, bSum)
		if err != nil {
			b.Fatal(err)
		}
		// O: takes the payment, hashes the bytes as they pass and checks
		// the record.
		req.Header = hdr
		adm, err := fx.orch.Admit(req, job)
		if err != nil {
			b.Fatal(err)
		}
		oSum := tpsSum(seg.src)
		if err := adm.Input(segHdr, oSum); err != nil {
			b.Fatal(err)
		}
		// T: hashes the bytes it is sent and signs its result.
		result, err := vouch(tpsSum(seg.src), rends)
		if err != nil {
			b.Fatal(err)
		}
		for j := range rends {
			rends[j].Proof = result
		}
		// O: checks the result and signs the receipt.
		rcpt, err := adm.Answer(rends)
		if err != nil {
			b.Fatal(err)
		}
		adm.Close()
		// B: checks the receipt and settles.
		if _, err := fx.sealer.Answer(context.Background(), job, bSum, rcpt, rends); err != nil {
			b.Fatal(err)
		}
	}
	fx.stop(b)
	b.ReportMetric(float64(fx.rcpt.Stats().Tickets-before)/float64(b.N), "tickets/op")
	b.ReportMetric(float64(seg.cpu)/1e6, "transcode-cpu-ms")
}

func tpsSum(src []byte) remote.SegmentSum {
	return remote.SegmentSum{Keccak: sign.Keccak(src), Size: int64(len(src))}
}

// tpsSegment is the transcoded test segment and what it cost ffmpeg.
type tpsSegment struct {
	src   []byte
	rends []transcode.Rendition
	job   transcode.Job
	runs  []time.Duration
	cpu   time.Duration // median of runs
}

const tpsW, tpsH, tpsFPS, tpsSeconds = 1280, 720, 30, 2

func tpsTranscode(b *testing.B) *tpsSegment {
	b.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s not installed (apt-get install ffmpeg): %v", bin, err)
		}
	}
	// What `castnet publish -test-pattern` encodes (internal/publish), cut
	// as one 2 s MPEG-TS segment.
	path := filepath.Join(b.TempDir(), "in.ts")
	size := strconv.Itoa(tpsW) + "x" + strconv.Itoa(tpsH)
	fps, rate := strconv.Itoa(tpsFPS), "2500000"
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=" + fps,
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000",
		"-t", strconv.Itoa(tpsSeconds), "-r", fps,
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-bf", "0", "-g", fps, "-keyint_min", fps, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000", "-f", "mpegts", path}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		b.Fatalf("making the test segment: %v\n%s", err, out)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	f, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	seg := &tpsSegment{src: src, job: transcode.Job{Stream: "s", Profiles: transcode.Ladder(transcode.DefaultLadder(), tpsW, tpsH),
		SourceWidth: tpsW, SourceHeight: tpsH}}
	var results []transcode.Result
	for range 3 {
		job := seg.job
		job.Input = bytes.NewReader(src)
		res, err := f.Run(context.Background(), job)
		if err != nil {
			b.Fatal(err)
		}
		seg.runs = append(seg.runs, res.Stats.CPU())
		results = append(results, res)
	}
	med := slices.Clone(seg.runs)
	slices.Sort(med)
	seg.cpu = med[1]
	seg.rends = results[slices.Index(seg.runs, seg.cpu)].Renditions
	return seg
}

// tpsFixture is a broadcaster, an orchestrator and a transcoder sharing a
// ledger file, ready to run segments.
type tpsFixture struct {
	seg                      *tpsSegment
	ctx                      context.Context
	d                        sign.Domain
	bKey, oKey, tKey, billed sign.Key
	led                      *ledger.Ledger
	rcpt                     *pm.Recipient
	snd                      *pm.Sender
	bc                       *Broadcaster
	payers                   map[string]fmt.Stringer // each stream's session, committed
	sealer                   remote.Sealer
	orch                     *Orchestrator
	sum                      remote.SegmentSum
	px                       uint64
	cost                     *big.Int // px at the price
	cpu0                     time.Duration
}

var tpsPrice = big.NewInt(3) // wei per pixel, as the e2e tests charge

func newTPS(b *testing.B, seg *tpsSegment) *tpsFixture {
	b.Helper()
	ctx := context.Background()
	fx := &tpsFixture{seg: seg, ctx: ctx, d: sign.DefaultDomain().WithChainID(big.NewInt(31337)),
		bKey: tpsKey(b), oKey: tpsKey(b), tKey: tpsKey(b), billed: tpsKey(b), sum: tpsSum(seg.src),
		payers: map[string]fmt.Stringer{}}
	px, err := Pixels(seg.rends)
	if err != nil {
		b.Fatal(err)
	}
	fx.px, fx.cost = px, new(big.Int).Mul(tpsPrice, new(big.Int).SetUint64(px))

	led, err := ledger.Open(filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { led.Close() })
	fx.led = led
	eth := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	for _, fund := range []func() error{
		func() error { return led.FundDeposit(ctx, fx.bKey.Address, eth) },
		func() error { return led.FundReserve(ctx, fx.bKey.Address, eth) },
		func() error { return led.FundPublisher(ctx, fx.billed.Address, eth) },
	} {
		if err := fund(); err != nil {
			b.Fatal(err)
		}
	}

	// O: the recipient and its gate, and /api/info?sender= for B.
	if fx.rcpt, err = pm.NewRecipient(pm.RecipientConfig{Key: fx.oKey, Broker: led, PricePerPixel: tpsPrice}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fx.rcpt.Close() })
	fx.orch = NewOrchestrator(OrchestratorConfig{Key: fx.oKey, Domain: fx.d, Recipient: fx.rcpt})
	info := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sender := common.HexToAddress(r.URL.Query().Get("sender"))
		tp, ep, err := fx.rcpt.Params(r.Context(), sender)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(nodeTerms{Address: fx.oKey.Address, PricePerPixel: tpsPrice.String(),
			TicketParams: &tp, ExpirationParams: &ep})
	}))
	b.Cleanup(info.Close)

	// B: its sender on the ledger, two publishers admitted by permit (one
	// on the allowed list, one billed), and the sealer for O.
	if fx.snd, err = pm.NewSender(pm.SenderConfig{Key: fx.bKey, Broker: led}); err != nil {
		b.Fatal(err)
	}
	allowed := tpsKey(b)
	fx.bc = NewBroadcaster(BroadcasterConfig{Key: fx.bKey, Domain: fx.d, Accounts: tpsAccounts{led},
		Allowed: []common.Address{allowed.Address}, Sender: fx.snd})
	for _, p := range []struct {
		stream string
		k      sign.Key
	}{{"allowed", allowed}, {"billed", fx.billed}} {
		permit := sign.Permit{Stream: p.stream, Broadcaster: fx.bKey.Address, Expires: big.NewInt(time.Now().Add(time.Hour).Unix()),
			MaxPricePerPixel: big.NewInt(10), Nonce: big.NewInt(1)}
		sig, err := sign.SignRecord(p.k, fx.d, permit)
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/whip/"+p.stream, nil)
		req.Header.Set("Authorization", "Bearer "+sign.EncodeToken(permit, sig))
		commit, err := fx.bc.Admit(req, p.stream)
		if err != nil {
			b.Fatal(err)
		}
		if fx.payers[p.stream], err = commit(ctx, p.stream+"-session"); err != nil {
			b.Fatal(err)
		}
	}
	fx.sealer = fx.bc.ForNode(info.URL)
	// The terms are fetched once here; the sealer keeps them 30 s.
	if _, err := fx.sealer.(*sealer).terms(ctx, false); err != nil {
		b.Fatal(err)
	}
	return fx
}

func (fx *tpsFixture) job(stream string, seq uint64) transcode.Job {
	j := fx.seg.job
	j.Stream, j.Seq, j.Payer = stream, seq, fx.payers[stream]
	j.Duration = func() time.Duration { return tpsSeconds * time.Second }
	return j
}

// admit pays for job and admits it at O.
func (fx *tpsFixture) admit(b *testing.B, job transcode.Job) remote.Admission {
	b.Helper()
	hdr, err := fx.sealer.Headers(fx.ctx, job)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, remote.Path, nil)
	req.Header = hdr
	adm, err := fx.orch.Admit(req, job)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(adm.Close)
	return adm
}

// vouched is the renditions as O gets them from T: with T's signed result.
func (fx *tpsFixture) vouched(b *testing.B) []transcode.Rendition {
	b.Helper()
	v, err := Vouch(fx.tKey, fx.d)(fx.sum, fx.seg.rends)
	if err != nil {
		b.Fatal(err)
	}
	rends := slices.Clone(fx.seg.rends)
	for i := range rends {
		rends[i].Proof = v
	}
	return rends
}

// start resets the timer and notes the process's CPU time.
func (fx *tpsFixture) start(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	fx.cpu0 = tpsCPU(b)
}

// stop stops the timer and reports CPU per op and its share of the
// segment's transcode.
func (fx *tpsFixture) stop(b *testing.B) {
	cpu := tpsCPU(b) - fx.cpu0
	b.StopTimer()
	perOp := float64(cpu) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ns/op")
	b.ReportMetric(100*perOp/float64(fx.seg.cpu), "pct_of_transcode_cpu")
}

func tpsCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tpsTickets counts the tickets of a payment header.
func tpsTickets(b *testing.B, hdr http.Header) int {
	v := hdr.Get(remote.HeaderPayment)
	if v == "" {
		return 0
	}
	p, err := pm.ParsePayment(v)
	if err != nil {
		b.Fatal(err)
	}
	return len(p.Tickets)
}

func tpsKey(b *testing.B) sign.Key {
	b.Helper()
	k, err := sign.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func tpsBytes(rends []transcode.Rendition) int {
	n := 0
	for _, r := range rends {
		n += len(r.Data)
	}
	return n
}

func tpsSizes(rends []transcode.Rendition) string {
	var s []string
	for _, r := range rends {
		s = append(s, fmt.Sprintf("%s %d bytes", r.Profile.Name, len(r.Data)))
	}
	return fmt.Sprint(s)
}

// tpsAccounts is the ledger as the broadcaster's Accounts, as
// internal/app wires it.
type tpsAccounts struct{ l *ledger.Ledger }

func (a tpsAccounts) PublisherBalance(ctx context.Context, p common.Address) (*big.Int, error) {
	acct, err := a.l.Account(ctx, p)
	if err != nil {
		return nil, err
	}
	return acct.Publisher, nil
}

func (a tpsAccounts) UsePermitNonce(ctx context.Context, p common.Address, nonce *big.Int) error {
	err := a.l.UsePermitNonce(ctx, p, nonce)
	if errors.Is(err, ledger.ErrNonceUsed) {
		return fmt.Errorf("%w: %w", ErrNonceUsed, err)
	}
	return err
}

func (a tpsAccounts) Bill(ctx context.Context, p common.Address, key string, amount *big.Int) (*big.Int, error) {
	left, err := a.l.Bill(ctx, p, key, amount)
	if errors.Is(err, ledger.ErrInsufficientBalance) {
		return left, fmt.Errorf("%w: %w", ErrInsufficientBalance, err)
	}
	return left, err
}
