package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Transcoder configures `castnet transcoder`.
type Transcoder struct {
	Orchestrator string
	Secret       string
	Capacity     int
	Name         string
	// NvidiaGPUs are the GPU indices to encode on with NVENC; empty means
	// libx264 on the CPU.
	NvidiaGPUs []int
	HTTPAddr   string
	FFmpeg     string
	LogLevel   slog.Level
	// Identity is the key the transcoder signs its results with; ChainID
	// goes into the EIP-712 domain when set.
	Identity Identity
	ChainID  int64
}

var transcoderName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseTranscoder reads `castnet transcoder` flags.
func ParseTranscoder(args []string, out io.Writer) (Transcoder, error) {
	var t Transcoder
	var level, nvidia string
	fs := flag.NewFlagSet("castnet transcoder", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&t.Orchestrator, "orchestrator", "", "orchestrator URL to register with, e.g. http://127.0.0.1:9935 (required)")
	secret := addSecretFlag(fs, &t.Secret, "secret", SecretEnv, "the orchestrator's transcoder secret (required)")
	fs.IntVar(&t.Capacity, "capacity", 1, "segments transcoded at once")
	fs.StringVar(&t.Name, "name", "", "name shown in the orchestrator's logs and API (default: host name)")
	fs.StringVar(&nvidia, "nvidia", "", "comma-separated NVIDIA GPU indices to encode on with NVENC, e.g. 0,1 (default: libx264 on the CPU)")
	fs.StringVar(&t.HTTPAddr, "http", "127.0.0.1:10935", "HTTP address for GET /api/status")
	fs.StringVar(&t.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	addIdentityFlags(fs, &t.Identity)
	fs.Int64Var(&t.ChainID, "chain-id", 0, "EIP-712 chainId for signed results (default: none)")
	if err := fs.Parse(args); err != nil {
		return Transcoder{}, err
	}
	if err := secret.resolve(); err != nil {
		return Transcoder{}, err
	}
	if fs.NArg() > 0 {
		return Transcoder{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if err := t.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	if t.Orchestrator == "" {
		errs = append(errs, errors.New("-orchestrator: give the orchestrator's URL"))
	} else if err := checkHTTPURL(t.Orchestrator); err != nil {
		errs = append(errs, fmt.Errorf("-orchestrator: %w", err))
	}
	if t.Secret == "" {
		errs = append(errs, errors.New("-secret: give the secret the orchestrator was started with"))
	}
	if t.Capacity < 1 || t.Capacity > 64 {
		errs = append(errs, fmt.Errorf("-capacity %d: want 1 to 64", t.Capacity))
	}
	if t.Name != "" && !transcoderName.MatchString(t.Name) {
		errs = append(errs, fmt.Errorf("-name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", t.Name))
	}
	if _, _, err := net.SplitHostPort(t.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("-http %q: %w", t.HTTPAddr, err))
	}
	gpus, err := parseGPUs(nvidia)
	if err != nil {
		errs = append(errs, err)
	}
	t.NvidiaGPUs = gpus
	if t.ChainID < 0 {
		errs = append(errs, fmt.Errorf("-chain-id %d: want 0 (none) or a chain id", t.ChainID))
	}
	if err := t.Identity.resolve(); err != nil {
		errs = append(errs, err)
	}
	return t, errors.Join(errs...)
}

func parseGPUs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 63 {
			return nil, fmt.Errorf("-nvidia %q: want GPU indices like 0 or 0,1", s)
		}
		out = append(out, n)
	}
	return out, nil
}
