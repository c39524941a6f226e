// Package netpool is the broadcaster's view of the orchestrators it can use.
// To the pipeline it is just a transcode.Transcoder: each segment goes to one
// orchestrator, and when that one fails, times out or answers with bad
// output, the segment is read again from its first byte (Job.Reopen) and
// sent to the next.
//
// # Discovery
//
// Orchestrators come from Config.URLs (origin "static") and, when
// Config.Webhook is set, from a URL answering
//
//	[{"address":"http://host:port"}, ...]
//
// (the shape of Livepeer's orchestrator webhook; origin "webhook"), fetched
// every WebhookRefresh. A webhook that fails keeps the last good list. Every
// known orchestrator's GET /api/info is probed every Refresh; the first
// round starts in New without holding it up, and an orchestrator not probed
// yet is usable (unless MaxPrice is set, see below).
//
// # Eligibility
//
// An orchestrator is sent segments only if its last good /api/info says
// protocol "castnet/2", lists codec "h264", and asks a price_per_pixel at or
// under Config.MaxPrice. When MaxPrice is set, an orchestrator whose price is
// not known yet (never probed successfully) is not eligible either: a node
// over the maximum must never be sent a segment, so Transcode waits for the
// first probe round before its first choice. A failing probe does not exclude
// a node (the probe may be wrong); it only ranks it lower.
//
// # Selection
//
// Each stream (Job.Stream) sticks to one orchestrator while that one
// performs for it: it is not suspended for the stream, and the stream's own
// latency score there (below) is under 1.0. Otherwise the eligible
// orchestrators are ranked, and the stream moves to the first. The ranking
// compares, in order:
//
//  1. not suspended for this stream before suspended;
//  2. last probe answered (or not probed yet) before last probe failed;
//  3. free slots (or unknown) before info reporting free == 0;
//  4. lower latency score.
//
// Ties keep discovery order (static URLs first, in the order given).
//
// The latency of a segment is the time from the later of the attempt's
// start and the end of its input (a live segment is streamed while it is
// still being cut, so the time before its last byte says nothing about the
// orchestrator) to the complete, checked answer. A node's latency score is
//
//	score = smoothed latency ÷ SegmentDuration × (1 + recent failure ratio)
//
// where the smoothing is an exponentially weighted mean (weight 0.2 for the
// newest segment) over every stream's segments, and the failure ratio is
// over the node's last 20 segments. A node with no successful segment yet
// counts a latency of half a segment when it has never been tried, and of
// AttemptTimeout when it has only failed. A stream's own score on its
// current node is the same smoothed latency ÷ SegmentDuration over that
// stream's segments only; at 1.0 or more the node no longer keeps up with
// the stream, and the stream is ranked afresh.
//
// # Failover
//
// A segment makes at most Attempts attempts, each bounded by AttemptTimeout
// counted from the segment's end (Job.InputDone): a live segment streams for
// as long as its publisher takes, which is not the orchestrator's fault.
// An orchestrator that answers 503 is full, not faulty: it is skipped
// without suspension, and when every one is full the segment waits half a
// second and tries again (4 rounds at most) rather than go out as source
// only. An attempt fails on a transport error, another status than 200,
// the timeout, or bad output: a missing, unrequested or wrongly sized rendition,
// a hash mismatch, or a rendition whose video does not demux cleanly, has
// no frame with a PTS, or does not line up with the source: renditions keep
// the input's timestamps, so the first video PTS must be within 100 ms of
// the source's, and the video span (last PTS − first PTS + one frame)
// within max(250 ms, 10 %) of the source's. The source is measured through
// Job.Reopen once an answer is in; without Reopen only the renditions'
// soundness is checked. The failed orchestrator is suspended for that stream for
// Suspend — ranked last for it, while other streams may go on using it — and
// the failure counts in its recent failure ratio. The stream's other
// segments in flight there are abandoned at once (ErrAbandoned) and move
// on too, instead of each waiting out its own deadline. When every attempt fails,
// Transcode returns an error wrapping ErrAllFailed that names each
// orchestrator's reason.
//
// Per-stream state is forgotten StreamTTL (10 minutes) after the stream's
// last segment.
//
// # Time
//
// Every time above — suspensions, busy rounds, StreamTTL, latencies, the
// attempt deadlines, the probe and webhook periods, probe times — is read
// from Config.Clock, the wall clock when nil, so that tests move it by hand
// (internal/clock's Fake) instead of sleeping. Only ProbeTimeout and the
// webhook's timeout, which bound real HTTP requests, always run on the wall
// clock.
//
// # Use
//
// New starts discovery in the background; Close stops it and must be
// called. Snapshot reports every orchestrator's state, and Handler serves it
// as JSON at GET /api/orchestrators.
package netpool
