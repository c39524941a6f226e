package rtc

import (
	"strings"
	"testing"
)

const answerVideo = "v=0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:103 rtx/90000\r\n" +
	"a=fmtp:103 apt=102\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n"

func TestAddRateHintsOnlyOnH264(t *testing.T) {
	got := AddRateHints(answerVideo, 2500, 4000)
	want := "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" +
		";x-google-start-bitrate=2500;x-google-max-bitrate=4000\r\n"
	if !strings.Contains(got, want) {
		t.Fatalf("H.264 fmtp without hints:\n%s", got)
	}
	if strings.Count(got, "x-google-start-bitrate") != 1 {
		t.Errorf("hints on a non-H.264 payload type:\n%s", got)
	}
	if again := AddRateHints(got, 2500, 4000); again != got {
		t.Errorf("hints added twice:\n%s", again)
	}
}

func TestAddRateHintsKeepsEverythingElse(t *testing.T) {
	got := AddRateHints(answerVideo, 1, 2)
	stripped := strings.ReplaceAll(got, ";x-google-start-bitrate=1;x-google-max-bitrate=2", "")
	if stripped != answerVideo {
		t.Errorf("answer changed beyond the hints:\n%q\nwant\n%q", stripped, answerVideo)
	}
}
