// Command castnet is a live-video network node: browser publishing over
// WHIP, segmenting, transcoding into an adaptive ladder and HLS playback.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `castnet — live video from a browser to adaptive HLS

Usage:
  castnet dev [flags]                      run every role in one process (pages on http://127.0.0.1:8935)
  castnet broadcaster -orchestrators URL[,URL] [dev flags]
                                           ingest and playback, transcoding through orchestrators
  castnet orchestrator [flags]             sell transcoding: segments in over HTTP, renditions out
  castnet transcoder -orchestrator URL -secret S [flags]
                                           do an orchestrator's transcoding (ffmpeg, or NVENC with -nvidia)
  castnet publish [flags] (-test-pattern | FILE) WHIP_URL
                                           publish a file or a test pattern over WHIP
  castnet keys new|show|import             Ethereum keys for -eth-key
  castnet ledger fund|balance|history      the embedded ledger: deposits, publisher balances, tickets
  castnet verify STREAM_DIR|URL            check a stream's segments and its signed custody chain
  castnet bench [-short] [PART ...]        benchmarks, each beside a bare baseline (make bench)
  castnet version                          print the version

Run "castnet COMMAND -h" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stderr)
	case "publish":
		err = runPublish(ctx, args[1:], stderr)
	case "broadcaster":
		err = runBroadcaster(ctx, args[1:], stderr)
	case "orchestrator":
		err = runOrchestrator(ctx, args[1:], stderr)
	case "transcoder":
		err = runTranscoder(ctx, args[1:], stderr)
	case "keys":
		err = runKeys(args[1:], stdout, stderr)
	case "ledger":
		err = runLedger(ctx, args[1:], stdout, stderr)
	case "verify":
		err = runVerify(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "castnet", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "castnet: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return exitStatus(err, stderr)
}

// exitStatus says what went wrong, unless the flag package already has,
// and returns the exit status: 0, 2 for usage, an exitError's own, else 1.
func exitStatus(err error, stderr io.Writer) int {
	var coded *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &coded):
		fmt.Fprintln(stderr, "castnet:", err)
		return coded.code
	default:
		fmt.Fprintln(stderr, "castnet:", err)
		return 1
	}
}

// errUsage means the flags were wrong; the flag package already said how.
var errUsage = errors.New("usage")

// exitError is an error that ends castnet with a status other than 1,
// for a subcommand whose failures a script should tell apart.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
