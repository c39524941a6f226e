package glass

import (
	"fmt"
	"strconv"
	"time"
)

// Source shape: what `castnet publish -test-pattern` sends, and the
// latency part's bare segment (internal/bench/latency/bare.go): testsrc2
// at 1280x720 and 30 fps, libx264 veryfast zerolatency constrained
// baseline, no B-frames, 2.5 Mb/s with a one-second VBV buffer, an IDR
// every 30 frames; a beeping sine as 48 kHz stereo Opus in 20 ms packets.
const (
	srcW, srcH = 1280, 720
	srcFPS     = 30
	srcBitrate = 2_500_000
)

// generatorArgs is the ffmpeg that draws the picture and the tone in real
// time (-re on each input): raw yuv420p frames on stdout for the encoder,
// Opus in Ogg on descriptor 3, one packet per page (the Ogg reader hands
// out pages). It stops after d at the latest.
func generatorArgs(d time.Duration) []string {
	secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", srcW, srcH, srcFPS),
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000",
		"-map", "0:v", "-t", secs, "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1",
		"-map", "1:a", "-t", secs, "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000",
		"-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", "pipe:3"}
}

// encoderArgs is one x264 encoder of the generator's frames, from stdin
// to FLV on stdout, each packet flushed as it is made. A fresh encoder
// starts on an IDR, which is how the publisher answers a PLI: ffmpeg
// cannot be asked for a keyframe while it runs, so the publisher hands
// the next frame to a spare encoder started beforehand.
func encoderArgs() []string {
	rate, gop := strconv.Itoa(srcBitrate), strconv.Itoa(srcFPS)
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-probesize", "32", "-analyzeduration", "0",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", fmt.Sprintf("%dx%d", srcW, srcH),
		"-framerate", strconv.Itoa(srcFPS), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-bf", "0", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-f", "flv", "-flvflags", "no_duration_filesize", "-flush_packets", "1", "pipe:1"}
}

// frameBytes is the size of one raw yuv420p frame.
const frameBytes = srcW * srcH * 3 / 2
