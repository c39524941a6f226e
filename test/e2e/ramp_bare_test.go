package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// bareWHIP is the baseline BenchmarkBrowserRamp measures castnet against:
// a WHIP endpoint that is nothing but a pion PeerConnection with pion's
// defaults (its default codecs and interceptors: NACK, RTCP reports and
// transport-wide feedback), kept on loopback. It reads and discards media.
func bareWHIP(t testing.TB) string {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	var mu sync.Mutex
	var pcs []*webrtc.PeerConnection
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Allow-Methods", "POST, DELETE")
		w.Header().Set("Access-Control-Expose-Headers", "Location")
		switch r.Method {
		case http.MethodOptions, http.MethodDelete:
			w.WriteHeader(http.StatusOK)
		case http.MethodPost:
			answer, pc, err := bareAnswer(api, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			mu.Lock()
			pcs = append(pcs, pc)
			mu.Unlock()
			w.Header().Set("Location", r.URL.Path+"/session")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, answer)
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, pc := range pcs {
			_ = pc.Close()
		}
	})
	return srv.URL + "/whip/ramp"
}

func bareAnswer(api *webrtc.API, body io.Reader) (string, *webrtc.PeerConnection, error) {
	offer, err := io.ReadAll(body)
	if err != nil {
		return "", nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return "", pc, err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", pc, err
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", pc, err
	}
	<-done
	return pc.LocalDescription().SDP, pc, nil
}
