package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/verify"
)

const verifyUsage = `castnet verify — check a stream's segments and its signed custody chain

Usage:
  castnet verify [-json] [-strict] [-broadcaster ADDRESS] DIR|URL

DIR is a stream session's directory: castnet-data/hls/STREAM, or an earlier
session, castnet-data/archive/STREAM/STARTED. URL is a node's custody
endpoint, http(s)://HOST/custody/STREAM/.

Every source segment and rendition is hashed again and compared with the
broadcaster's signed segment record, the orchestrator's receipt and the
transcoder's result; every signature is recovered and the chain publisher →
broadcaster → orchestrator → transcoder followed; pixel counts are
recomputed from the renditions' H.264 streams. The exit status is 0 when
everything checks out, 1 otherwise.

Flags:
`

// verifyProgressAfter is how many segments a log has before progress is
// shown on stderr.
const verifyProgressAfter = 200

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("castnet verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "fail on unsigned segments too (published without a receipt, after a failed transcode)")
	bcast := fs.String("broadcaster", "", "the broadcaster ADDRESS the log must be kept by (default: trust the log's own node line)")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "castnet verify: give one stream directory or custody URL\n\n")
		fs.Usage()
		return errUsage
	}
	opt := verify.Options{}
	if *bcast != "" {
		if !common.IsHexAddress(*bcast) {
			return fmt.Errorf("verify: -broadcaster %q is not an address", *bcast)
		}
		opt.Broadcaster = common.HexToAddress(*bcast)
	}
	target := fs.Arg(0)
	var src verify.Source
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		var err error
		if src, err = verify.HTTPSource(target, &http.Client{Timeout: 5 * time.Minute}); err != nil {
			return err
		}
	} else {
		src = verify.DirSource(target)
	}
	if !*quiet {
		var last time.Time
		opt.Progress = func(done, total int) {
			if total < verifyProgressAfter {
				return
			}
			if now := time.Now(); done == total || now.Sub(last) >= time.Second {
				last = now
				fmt.Fprintf(stderr, "castnet verify: %d/%d segments checked\n", done, total)
			}
		}
	}
	rep, err := verify.RunWith(ctx, src, opt)
	if err != nil {
		return fmt.Errorf("verify %s: %w", target, err)
	}
	ok := rep.OK(*strict)
	if *asJSON {
		out := struct {
			OK     bool `json:"ok"`
			Strict bool `json:"strict"`
			*verify.Report
		}{ok, *strict, &rep}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if err := rep.Write(stdout); err != nil {
			return err
		}
		if ok {
			fmt.Fprintln(stdout, "verdict: OK")
		} else {
			fmt.Fprintln(stdout, "verdict: FAIL")
		}
	}
	if ok {
		return nil
	}
	t := rep.Totals
	switch {
	case len(rep.Problems) > 0 && t.Mismatched > 0:
		return fmt.Errorf("the custody log does not check out (%s), and %d of %d segments do not", rep.Problems[0], t.Mismatched, t.Segments)
	case len(rep.Problems) > 0:
		return fmt.Errorf("the custody log does not check out: %s", rep.Problems[0])
	case t.Mismatched > 0:
		return fmt.Errorf("%d of %d segments do not check out", t.Mismatched, t.Segments)
	default:
		return fmt.Errorf("%d of %d segments are unsigned (-strict)", t.Unsigned, t.Segments)
	}
}
