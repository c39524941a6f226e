package ingest

import (
	"context"

	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/broadcaster"
)

// counts is what a receiver has counted so far, summed over its streams.
type counts struct {
	packets, lost uint64
	// segments is the segments published (castnet only; bare cuts none).
	segments uint64
	streams  int // live now
}

// target is a receiver under test: castnet's node or the bare baseline.
type target struct {
	name string
	node *node.Node
	read func(ctx context.Context) (counts, error)
}

// castnetCounts sums /api/streams: transport packets and losses as the
// WHIP sessions counted them, and segments published.
func castnetCounts(n *node.Node) func(context.Context) (counts, error) {
	return func(ctx context.Context) (counts, error) {
		var streams []broadcaster.StreamInfo
		if err := node.GetJSON(ctx, n.URL+"/api/streams", &streams); err != nil {
			return counts{}, err
		}
		var c counts
		for _, s := range streams {
			c.packets += s.Transport.PacketsVideo + s.Transport.PacketsAudio
			c.lost += s.Transport.PacketsLost
			c.segments += s.Published
			if s.State == broadcaster.StateLive {
				c.streams++
			}
		}
		return c, nil
	}
}

// bareCounts reads the bare receiver's /api/stats.
func bareCounts(n *node.Node) func(context.Context) (counts, error) {
	return func(ctx context.Context) (counts, error) {
		var st ReceiverStats
		if err := node.GetJSON(ctx, n.URL+"/api/stats", &st); err != nil {
			return counts{}, err
		}
		return counts{packets: st.Packets, lost: st.Lost, streams: st.Streams}, nil
	}
}
