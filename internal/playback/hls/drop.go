package hls

import "time"

// PartTarget is the Part Target Duration parts must keep to, 0 or less
// when the store lists no parts (Config.PartTarget negative).
func (s *Store) PartTarget() time.Duration { return s.cfg.PartTarget }

// DropParts stops listing a rendition's parts of segment seq (the segment
// in progress) and refuses its later ones: the producer cannot go on, as
// when the transcode restarts elsewhere mid-segment and the new encoder's
// pictures cannot follow the old one's parts. The segment is then listed
// without that rendition's parts.
func (st *Stream) DropParts(rendition string, seq uint64) {
	if st.store.cfg.PartTarget < 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if run, err := st.partRunFor(rendition, seq); err == nil {
		st.breakRun(rendition, seq, run)
	}
}
