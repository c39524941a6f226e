package media

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpora under testdata/fuzz")

// fuzzSeeds lists each fuzz target's seeds; the same seeds go to f.Add and
// to the committed corpus, so `go test -fuzz` starts from them even on a
// machine without the cache.
func fuzzSeeds() map[string][][]byte {
	return map[string][][]byte{
		"FuzzH264Depacketizer":   h264FuzzSeeds(),
		"FuzzParseSPS":           spsFuzzSeeds(),
		"FuzzOpusPacketDuration": opusFuzzSeeds(),
		"FuzzSplitAnnexB":        annexBFuzzSeeds(),
		"FuzzReorderBuffer":      reorderFuzzSeeds(),
	}
}

// corpusFile renders one seed in the "go test fuzz v1" format.
func corpusFile(seed []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed)
}

// TestFuzzCorpusIsCurrent fails when the committed corpus no longer matches
// the seeds; run `go test -run FuzzCorpus -update` to rewrite it.
func TestFuzzCorpusIsCurrent(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, seed := range seeds {
			path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			want := corpusFile(seed)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(want) {
				t.Errorf("%s is stale or missing (%v); run go test -run FuzzCorpus -update", path, err)
			}
		}
	}
}
