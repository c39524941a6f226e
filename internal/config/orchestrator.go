package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
)

// Orchestrator configures `castnet orchestrator`.
type Orchestrator struct {
	HTTPAddr      string
	DebugAddr     string // pprof and runtime counters when set (loopback only)
	Secret        string
	Transcode     string // "local" (ffmpeg here) or "remote" (registered transcoders)
	Capacity      int
	PricePerPixel int64
	FFmpeg        string
	// Fault makes the node misbehave on purpose ("corrupt" or "hang"), so
	// broadcaster failover can be tested against a real process.
	Fault    string
	LogLevel slog.Level
	// Identity is the key the orchestrator signs receipts with and is
	// paid to.
	Identity Identity
	// Ledger is the SQLite ledger tickets are checked and redeemed
	// against; ChainID goes into the EIP-712 domain when set.
	Ledger  string
	ChainID int64
	// Winners is the SQLite file winning tickets are kept in from the
	// moment a payment is accepted until they are redeemed (default
	// winners.db beside Ledger).
	Winners string
	// FaceValue is what a winning ticket pays (nil: the default, 1e15 wei
	// or 100 tickets' worth).
	FaceValue *big.Int
	// Limits bound what peers may hold of the node (limits.go).
	Limits Limits
}

// ParseOrchestrator reads `castnet orchestrator` flags.
func ParseOrchestrator(args []string, out io.Writer) (Orchestrator, error) {
	var o Orchestrator
	var level string
	fs := flag.NewFlagSet("castnet orchestrator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.HTTPAddr, "http", "127.0.0.1:9935", "HTTP address for segments (POST /v1/transcode), transcoders and /api/info")
	secret := addSecretFlag(fs, &o.Secret, "secret", SecretEnv, "shared secret transcoders must present (required with -transcode remote)")
	fs.StringVar(&o.Transcode, "transcode", "local", "local: run ffmpeg here; remote: dispatch to registered `castnet transcoder` nodes")
	fs.IntVar(&o.Capacity, "capacity", 2, "segments transcoded at once (with -transcode local)")
	fs.Int64Var(&o.PricePerPixel, "price", 0, "price per output pixel, in wei")
	fs.StringVar(&o.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary (with -transcode local)")
	fs.StringVar(&o.Fault, "fault", "", "testing only: misbehave on purpose, corrupt (renditions are garbage), hang (never answer) or inflate (each rendition sent 50 times over, which its own gate refuses to sign for)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.DebugAddr, "debug-addr", "", "loopback address for /debug/pprof/ and /debug/runtime (off by default)")
	addIdentityFlags(fs, &o.Identity)
	fs.StringVar(&o.Ledger, "ledger", "./castnet-data/ledger.db", "SQLite ledger file tickets are checked and redeemed against")
	fs.StringVar(&o.Winners, "winners", "", "SQLite file winning tickets are kept in until redeemed, so a restart loses none (default: winners.db beside -ledger)")
	fs.Int64Var(&o.ChainID, "chain-id", 0, "EIP-712 chainId for receipts (default: none)")
	faceValue := fs.String("face-value", "", "what a winning ticket pays, in wei (default: 1e15, or 100 tickets' worth if more)")
	addLimitFlags(fs, &o.Limits, "orchestrator")
	if err := fs.Parse(args); err != nil {
		return Orchestrator{}, err
	}
	if err := secret.resolve(); err != nil {
		return Orchestrator{}, err
	}
	if *faceValue != "" {
		v, err := parseWei("-face-value", *faceValue)
		if err != nil {
			return Orchestrator{}, err
		}
		o.FaceValue = v
	}
	if fs.NArg() > 0 {
		return Orchestrator{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	if _, _, err := net.SplitHostPort(o.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("-http %q: %w", o.HTTPAddr, err))
	}
	if err := CheckDebugAddr(o.DebugAddr); err != nil {
		errs = append(errs, err)
	}
	switch o.Transcode {
	case "local":
	case "remote":
		if o.Secret == "" {
			errs = append(errs, errors.New("-transcode remote needs -secret: transcoders authenticate with it"))
		}
	default:
		errs = append(errs, fmt.Errorf("-transcode %q: want local or remote", o.Transcode))
	}
	switch o.Fault {
	case "":
	case "corrupt", "hang", "inflate":
		if o.Transcode != "local" {
			errs = append(errs, errors.New("-fault works with -transcode local"))
		}
	default:
		errs = append(errs, fmt.Errorf("-fault %q: want corrupt, hang or inflate", o.Fault))
	}
	if o.Capacity < 1 {
		errs = append(errs, fmt.Errorf("-capacity %d: want 1 or more", o.Capacity))
	}
	if err := o.Limits.check(); err != nil {
		errs = append(errs, err)
	}
	if o.PricePerPixel < 0 {
		errs = append(errs, fmt.Errorf("-price %d: want 0 or more", o.PricePerPixel))
	}
	if o.PricePerPixel > 0 && o.Identity.KeyFile == "" {
		errs = append(errs, errors.New("-price needs -eth-key: tickets pay that key's address, and a throwaway key would lose the earnings"))
	}
	if o.ChainID < 0 {
		errs = append(errs, fmt.Errorf("-chain-id %d: want 0 (none) or a chain id", o.ChainID))
	}
	winners, err := winnersFile(o.Winners, o.Ledger)
	if err != nil {
		errs = append(errs, err)
	}
	o.Winners = winners
	if err := o.Identity.resolve(); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

// winnersFile is the winning-ticket store's path: winners, or winners.db
// beside the ledger when empty. It must not be the ledger itself.
func winnersFile(winners, ledger string) (string, error) {
	if winners == "" {
		winners = filepath.Join(filepath.Dir(ledger), "winners.db")
	}
	w, err := filepath.Abs(winners)
	if err != nil {
		return winners, fmt.Errorf("-winners %q: %w", winners, err)
	}
	if l, err := filepath.Abs(ledger); err == nil && l == w {
		return winners, fmt.Errorf("-winners %q: want a file of its own, not the ledger", winners)
	}
	return winners, nil
}
