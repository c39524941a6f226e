// Package relay forwards one publisher's RTP to many viewers, SFU-style
// (the WHEP source path): no transcode, no buffering beyond a bounded
// queue per viewer.
//
// The relay rewrites the publisher's sequence numbers and timestamps onto
// one continuous numbering that survives the publisher reconnecting (a new
// session has a new SSRC, a random sequence and a random timestamp base,
// RFC 3550 §5.1), and drops the padding-only packets a browser sends to
// probe bandwidth, so that viewers never see a gap that is not a loss. It
// keeps the last packets of each track for retransmission (RFC 4585 NACK)
// and the start of the latest keyframe, so a new viewer starts on an IDR:
// at once from the cache when the keyframe is fresh, otherwise on the next
// one, asked of the publisher with a PLI, or, if the publisher ignores the
// request, from the cached GOP after KeyframeWait.
//
// The relay never blocks the publisher: a viewer whose queue is full loses
// the packet, and the loss is counted; that viewer then asks for it again
// with a NACK, answered from the cache.
package relay
