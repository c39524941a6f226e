// Package config holds castnet's typed configuration: flags, defaults and
// validation. Nothing else in castnet reads flags or the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/castnet/castnet/internal/transcode"
)

// Dev configures `castnet dev` (every role in one process) and `castnet
// broadcaster`.
type Dev struct {
	// Role is "dev" or "broadcaster".
	Role string
	// Capacity is how many segments dev's built-in transcoder takes at once.
	Capacity int
	HTTPAddr string
	// DebugAddr serves pprof and runtime counters when set (loopback only).
	DebugAddr    string
	DataDir      string
	Segment      time.Duration
	ProfilesFile string
	Profiles     []transcode.Profile // loaded from ProfilesFile, or the default ladder
	PublishToken string
	MaxStreams   int
	WebRTCUDP    string
	NATIPs       []string
	ICEServers   []rtc.ICEServer
	FFmpeg       string
	Window       int
	// PartTarget is the LL-HLS part target duration (0: no parts).
	PartTarget time.Duration
	// ReconnectGrace is how long an interrupted session's playlists wait
	// for their publisher to come back (0: they end at once).
	ReconnectGrace time.Duration
	// MinFreeMB is the free space, in MiB, the store keeps for live
	// streams (0: no minimum).
	MinFreeMB int64
	LogLevel  slog.Level
	// Orchestrators (static list) and OrchWebhook (a URL that returns the
	// list), when set, transcode instead of the local ffmpeg (`castnet
	// broadcaster`).
	Orchestrators []string
	OrchWebhook   string
	// MaxPrice is the most the broadcaster pays per output pixel, in wei;
	// nil means no limit.
	MaxPrice *big.Int
	// WholeUpload sends each segment only once it is complete instead of
	// streaming it as it is cut; for measuring what streaming saves.
	WholeUpload bool
	// SourceOnly publishes segments as cut, with no transcoding at all (no
	// orchestrators, no ffmpeg).
	SourceOnly bool
	// Limits bound what peers may hold of the node (limits.go).
	Limits Limits
	// Identity is the broadcaster's key (dev makes throwaway keys for its
	// orchestrator and transcoder).
	Identity Identity
	// Ledger is the SQLite ledger file: publisher balances and permit
	// nonces, and (standing in for the chain) ticket deposits.
	Ledger string
	// ChainID goes into the EIP-712 domain when set (0: omitted, so any
	// wallet network signs).
	ChainID int64
	// RequirePermit refuses WHIP publishing without a signed permit.
	RequirePermit bool
	// PublishersFile lists the addresses allowed to publish without a
	// balance in the ledger.
	PublishersFile string
	Publishers     []common.Address
	// Price is what dev's orchestrator charges per output pixel, in wei
	// (0: free, no tickets).
	Price *big.Int
	// Winners is the SQLite file dev's orchestrator keeps winning tickets
	// in until they are redeemed (default winners.db beside Ledger).
	Winners string
	// API bounds /api/streams and holds its admin token.
	API API
}

// ErrHelp is returned when the user asked for usage.
var ErrHelp = flag.ErrHelp

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// ParseDev reads `castnet dev` flags, applies defaults and validates.
func ParseDev(args []string, out io.Writer) (Dev, error) { return parseNode("dev", args, out) }

// ParseBroadcaster reads `castnet broadcaster` flags: those of dev plus the
// orchestrators that transcode, which are required.
func ParseBroadcaster(args []string, out io.Writer) (Dev, error) {
	d, err := parseNode("broadcaster", args, out)
	if err == nil && len(d.Orchestrators) == 0 && d.OrchWebhook == "" && !d.SourceOnly {
		err = errors.New("-orchestrators: give at least one orchestrator URL (or -orch-webhook)")
	}
	return d, err
}

func parseNode(role string, args []string, out io.Writer) (Dev, error) {
	d := Dev{Role: role}
	var natIPs, iceServers listFlag
	var level, orchestrators, maxPrice string
	fs := flag.NewFlagSet("castnet "+role, flag.ContinueOnError)
	if role == "broadcaster" {
		fs.StringVar(&orchestrators, "orchestrators", "", "comma-separated orchestrator URLs that transcode (e.g. http://127.0.0.1:9935)")
		fs.StringVar(&d.OrchWebhook, "orch-webhook", "", `URL answering GET with the orchestrator list as JSON [{"address":"http://..."}], refreshed every minute`)
		fs.StringVar(&maxPrice, "max-price", "", "most to pay per output pixel, in wei (default: no limit)")
		fs.BoolVar(&d.WholeUpload, "upload-whole", false, "benchmarking only: upload each segment after it is complete instead of streaming it")
	} else {
		fs.IntVar(&d.Capacity, "capacity", 0, "segments the built-in transcoder works on at once; beyond it a segment is published as source only (default: 4 per -max-streams, up to 64)")
	}
	fs.SetOutput(out)
	fs.StringVar(&d.HTTPAddr, "http", "127.0.0.1:8935", "HTTP address for pages, WHIP, HLS and the API")
	fs.StringVar(&d.DataDir, "data", "./castnet-data", "directory for segments and playlists (kept after streams end)")
	fs.DurationVar(&d.Segment, "segment", 2*time.Second, "target segment duration")
	fs.StringVar(&d.ProfilesFile, "profiles", "", "JSON file with the transcoding ladder (list of {name,width,height,bitrate,fps,gop})")
	token := addSecretFlag(fs, &d.PublishToken, "publish-token", PublishTokenEnv, "require this bearer token to publish")
	fs.IntVar(&d.MaxStreams, "max-streams", 8, "most streams live at once (0: no limit)")
	addLimitFlags(fs, &d.Limits, role)
	fs.StringVar(&d.WebRTCUDP, "webrtc-udp", "local:8189", "the single UDP address all WebRTC media uses: local:PORT is every address of this machine, answering this machine only; use :8189 to accept other machines")
	fs.Var(&natIPs, "nat-ip", "public IP to advertise in ICE candidates when behind NAT (repeatable)")
	fs.Var(&iceServers, "ice-server", "STUN/TURN server as URL or URL,username,credential (repeatable)")
	fs.StringVar(&d.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	fs.BoolVar(&d.SourceOnly, "source-only", false, "publish segments as cut (H.264 + Opus in MPEG-TS): no transcoding, no ffmpeg; for ingest and relay nodes")
	fs.IntVar(&d.Window, "hls-window", 6, "segments in a live media playlist")
	fs.DurationVar(&d.PartTarget, "hls-part", hls.DefaultPartTarget, "LL-HLS part target duration (0: no parts, plain HLS)")
	fs.DurationVar(&d.ReconnectGrace, "reconnect-grace", 10*time.Second, "how long a dropped publisher's playlists wait, without ENDLIST, for its next session to continue them; 0: they end at once")
	fs.Int64Var(&d.MinFreeMB, "min-free-mb", 256, "free space, in MiB, kept for the streams already live: with less, new streams are refused (507) and /readyz fails; 0: no minimum")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&d.DebugAddr, "debug-addr", "", "loopback address for /debug/pprof/ and /debug/runtime (off by default)")
	addIdentityFlags(fs, &d.Identity)
	addAPIFlags(fs, &d.API)
	fs.StringVar(&d.Ledger, "ledger", "", "SQLite ledger file (default: DATA/ledger.db)")
	fs.Int64Var(&d.ChainID, "chain-id", 0, "EIP-712 chainId for permits and receipts (default: none, any wallet network signs)")
	fs.BoolVar(&d.RequirePermit, "require-permit", false, "refuse to publish without a wallet-signed permit (Authorization: Bearer eip712.…)")
	fs.StringVar(&d.PublishersFile, "publishers", "", "file of publisher addresses (one per line) allowed to publish without a ledger balance")
	var price string
	if role == "dev" {
		fs.StringVar(&price, "price", "0", "price per output pixel, in wei, dev's orchestrator charges (paid with tickets from the broadcaster's ledger deposit)")
		fs.StringVar(&d.Winners, "winners", "", "SQLite file dev's orchestrator keeps winning tickets in until redeemed (default: winners.db beside -ledger)")
	}
	if err := fs.Parse(args); err != nil {
		return Dev{}, err
	}
	fitPartTarget(fs, &d)
	if err := token.resolve(); err != nil {
		return Dev{}, err
	}
	if price != "" {
		p, err := parseWei("-price", price)
		if err != nil {
			return Dev{}, err
		}
		if !p.IsInt64() {
			return Dev{}, fmt.Errorf("-price %s: at most %d wei per pixel", p, int64(math.MaxInt64))
		}
		d.Price = p
	}
	if fs.NArg() > 0 {
		return Dev{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d.NATIPs = natIPs
	for _, u := range strings.Split(orchestrators, ",") {
		if u = strings.TrimSpace(u); u != "" {
			if err := checkHTTPURL(u); err != nil {
				return Dev{}, fmt.Errorf("-orchestrators: %w", err)
			}
			d.Orchestrators = append(d.Orchestrators, u)
		}
	}
	if d.OrchWebhook != "" {
		if err := checkHTTPURL(d.OrchWebhook); err != nil {
			return Dev{}, fmt.Errorf("-orch-webhook: %w", err)
		}
	}
	if maxPrice != "" {
		p, err := parseWei("-max-price", maxPrice)
		if err != nil {
			return Dev{}, err
		}
		d.MaxPrice = p
	}
	for _, s := range iceServers {
		srv, err := rtc.ParseICEServer(s)
		if err != nil {
			return Dev{}, err
		}
		d.ICEServers = append(d.ICEServers, srv)
	}
	if err := d.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return Dev{}, fmt.Errorf("-log-level: %w", err)
	}
	return d, d.finish()
}

// parseWei reads a whole, non-negative number of wei.
func parseWei(flagName, s string) (*big.Int, error) {
	p, ok := new(big.Int).SetString(s, 10)
	if !ok || p.Sign() < 0 || p.BitLen() > 256 {
		return nil, fmt.Errorf("%s %q: want a whole number of wei, 0 or more", flagName, s)
	}
	return p, nil
}

// checkHTTPURL accepts absolute http and https URLs.
func checkHTTPURL(u string) error {
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", u)
	}
	return nil
}

// finish loads the ladder and checks every value.
func (d *Dev) finish() error {
	var errs []error
	if d.Segment < 500*time.Millisecond || d.Segment > 30*time.Second {
		errs = append(errs, fmt.Errorf("-segment %s: want 500ms to 30s", d.Segment))
	}
	if d.Role == "dev" && d.Capacity == 0 {
		// Enough for every stream's segments in flight (the broadcaster
		// allows 4), so capacity is never what a bad publisher exhausts.
		d.Capacity = 64
		if d.MaxStreams > 0 {
			d.Capacity = min(64, 4*d.MaxStreams)
		}
	}
	if d.Role == "dev" && (d.Capacity < 1 || d.Capacity > 64) {
		errs = append(errs, fmt.Errorf("-capacity %d: want 1 to 64", d.Capacity))
	}
	if d.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("-max-streams %d: want 0 or more", d.MaxStreams))
	}
	if err := d.Limits.check(); err != nil {
		errs = append(errs, err)
	}
	if d.ReconnectGrace < 0 {
		errs = append(errs, fmt.Errorf("-reconnect-grace %s: want 0 or more", d.ReconnectGrace))
	}
	if d.MinFreeMB < 0 {
		errs = append(errs, fmt.Errorf("-min-free-mb %d: want 0 (no minimum) or more", d.MinFreeMB))
	}
	if d.PartTarget != 0 && (d.PartTarget < 100*time.Millisecond || d.PartTarget > d.Segment/2) {
		errs = append(errs, fmt.Errorf("-hls-part %s: want 0 (off) or 100ms to half of -segment (%s)", d.PartTarget, d.Segment/2))
	}
	if d.Window < 3 {
		errs = append(errs, fmt.Errorf("-hls-window %d: want 3 or more (RFC 8216 §6.2.2)", d.Window))
	}
	for _, ip := range d.NATIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("-nat-ip %q: not an IP address", ip))
		}
	}
	if _, _, err := net.SplitHostPort(d.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("-http %q: %w", d.HTTPAddr, err))
	}
	if err := CheckDebugAddr(d.DebugAddr); err != nil {
		errs = append(errs, err)
	}
	if err := checkWebRTCUDP(d.WebRTCUDP, d.NATIPs); err != nil {
		errs = append(errs, err)
	}
	if d.Ledger == "" {
		d.Ledger = filepath.Join(d.DataDir, "ledger.db")
	}
	if d.Role == "dev" {
		winners, err := winnersFile(d.Winners, d.Ledger)
		if err != nil {
			errs = append(errs, err)
		}
		d.Winners = winners
	}
	if d.ChainID < 0 {
		errs = append(errs, fmt.Errorf("-chain-id %d: want 0 (none) or a chain id", d.ChainID))
	}
	if err := d.Identity.resolve(); err != nil {
		errs = append(errs, err)
	}
	if err := d.API.resolve(); err != nil {
		errs = append(errs, err)
	}
	if d.PublishersFile != "" {
		ps, err := ReadPublishers(d.PublishersFile)
		if err != nil {
			errs = append(errs, err)
		}
		d.Publishers = ps
	}
	d.Profiles = transcode.DefaultLadder()
	if d.SourceOnly {
		d.Profiles = []transcode.Profile{}
		if d.ProfilesFile != "" {
			errs = append(errs, errors.New("-profiles: there is no ladder with -source-only"))
		}
	} else if d.ProfilesFile != "" {
		ps, err := transcode.LoadProfiles(d.ProfilesFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("-profiles: %w", err))
		}
		d.Profiles = ps
	}
	return errors.Join(errs...)
}

// fitPartTarget shortens the default LL-HLS part for short segments
// (a quarter of -segment at most) unless -hls-part was given.
func fitPartTarget(fs *flag.FlagSet, d *Dev) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "hls-part" })
	if !given {
		d.PartTarget = min(d.PartTarget, d.Segment/4)
	}
}

// CheckDebugAddr accepts "" (off) or a loopback host:port: profiles expose
// memory and can load the CPU, so they are never served to other machines.
func CheckDebugAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-debug-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-debug-addr %q: must be a loopback address such as 127.0.0.1:6060", addr)
	}
	return nil
}

// checkWebRTCUDP refuses an address that does not parse, and -nat-ip with
// "local:PORT": advertising a public address for a port that answers this
// machine only would fail every session from outside.
func checkWebRTCUDP(addr string, natIPs []string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-webrtc-udp %q: %w", addr, err)
	}
	if host == rtc.LocalHost && len(natIPs) > 0 {
		return fmt.Errorf("-nat-ip needs a -webrtc-udp that other machines reach: -webrtc-udp local:%s answers this machine only; use -webrtc-udp :%s", port, port)
	}
	return nil
}
