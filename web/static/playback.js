// castnet — the watch page's decisions, as pure functions: which way to play
// (WebRTC over WHEP, or HLS), when to give up on WebRTC, and how far behind
// the publisher the picture is. Plain browser script, no modules: it defines
// one global, CastnetPlayback, and runs under Node for the Go tests.
(function (root) {
  'use strict';

  // Modes: 'auto' (no ?mode=) plays WebRTC and falls back to HLS by itself;
  // 'webrtc' and 'hls' are a viewer's hand choice, kept in the URL.
  const MODES = ['auto', 'webrtc', 'hls'];

  // Retry-After bounds: a refused WHEP POST is retried after what the node
  // asks, but never sooner than RETRY_MIN_MS nor later than RETRY_MAX_MS, so
  // a bad header can neither hammer the node nor leave the viewer waiting.
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 10000;
  const RETRY_DEFAULT_MS = 2000;
  // AUTO_RETRIES is how often the automatic mode retries a 409 or 503
  // before it plays HLS instead.
  const AUTO_RETRIES = 1;

  // modeFromSearch reads ?mode= from a location.search string; anything
  // but webrtc or hls is the automatic mode.
  function modeFromSearch(search) {
    let mode = '';
    try {
      mode = new URLSearchParams(search || '').get('mode') || '';
    } catch (_) {
      mode = '';
    }
    mode = mode.toLowerCase();
    return mode === 'webrtc' || mode === 'hls' ? mode : 'auto';
  }

  // searchWithMode returns search with ?mode= set to mode (removed for
  // auto), keeping every other parameter.
  function searchWithMode(search, mode) {
    const q = new URLSearchParams(search || '');
    if (mode === 'webrtc' || mode === 'hls') q.set('mode', mode);
    else q.delete('mode');
    const s = q.toString();
    return s ? '?' + s : '';
  }

  // retryAfterMs reads a Retry-After header, delay-seconds or an HTTP-date
  // (RFC 9110 section 10.2.3), into bounded milliseconds from nowMs.
  function retryAfterMs(value, nowMs) {
    const v = String(value == null ? '' : value).trim();
    let ms = NaN;
    if (/^\d+$/.test(v)) ms = Number(v) * 1000;
    else if (v) ms = Date.parse(v) - nowMs;
    if (!isFinite(ms)) return RETRY_DEFAULT_MS;
    return Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, ms));
  }

  // whepNext decides what follows a WebRTC failure: {action: 'retry',
  // delayMs} or {action: 'hls'}. failure is {kind, status, retryAfterMs}:
  // kind 'refused' (the POST answered other than 201), 'timeout' (no
  // connection or no frame in time), 'failed' (a connected session broke)
  // or 'error' (anything else). The automatic mode retries a 409 (not live
  // yet) or 503 (viewer limit) AUTO_RETRIES times after Retry-After, and
  // plays HLS for the rest; a viewer who chose WebRTC by hand, or a browser
  // without HLS, keeps retrying WebRTC.
  function whepNext(opts) {
    const f = opts.failure || {};
    const busy = f.kind === 'refused' && (f.status === 409 || f.status === 503);
    const delayMs = busy && f.retryAfterMs > 0 ? f.retryAfterMs : RETRY_DEFAULT_MS;
    if (opts.mode === 'webrtc' || !opts.hlsAvailable) return { action: 'retry', delayMs };
    if (busy && (opts.retries || 0) < AUTO_RETRIES) return { action: 'retry', delayMs };
    return { action: 'hls' };
  }

  // webrtcSample picks what the delay needs out of RTCPeerConnection
  // getStats() values (W3C webrtc-stats): the video inbound-rtp's frame
  // and jitter-buffer counters, and the selected candidate pair's RTT.
  function webrtcSample(stats) {
    const list = Array.from(stats || []);
    const video = list.find((s) => s.type === 'inbound-rtp' && s.kind === 'video') || {};
    return {
      framesDecoded: video.framesDecoded || 0,
      jitterBufferDelay: video.jitterBufferDelay || 0,
      jitterBufferEmittedCount: video.jitterBufferEmittedCount || 0,
      rtt: selectedPair(list).currentRoundTripTime,
    };
  }

  // selectedPair is the candidate pair the transport names, else a
  // nominated succeeded one (Firefox reports no transport stats).
  function selectedPair(list) {
    const transport = list.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pairs = list.filter((s) => s.type === 'candidate-pair');
    return (transport && pairs.find((p) => p.id === transport.selectedCandidatePairId)) ||
      pairs.find((p) => p.nominated && p.state === 'succeeded') || {};
  }

  // webrtcDelayMs is the picture's delay behind the node's forwarding: the
  // jitter buffer's mean delay over the frames emitted since prev (over
  // all frames without prev) plus half the round trip, in milliseconds;
  // null until a frame has left the buffer.
  function webrtcDelayMs(prev, cur) {
    let delay = cur.jitterBufferDelay;
    let count = cur.jitterBufferEmittedCount;
    if (prev && count > prev.jitterBufferEmittedCount) {
      delay -= prev.jitterBufferDelay;
      count -= prev.jitterBufferEmittedCount;
    }
    if (!(count > 0)) return null;
    const oneWay = typeof cur.rtt === 'number' && isFinite(cur.rtt) ? cur.rtt / 2 : 0;
    return (delay / count + oneWay) * 1000;
  }

  // hlsDelaySeconds is how far behind the publisher HLS plays: now minus
  // the program date-time at the playhead when the playlist carries
  // EXT-X-PROGRAM-DATE-TIME (playingDateMs), else hls.js's own estimate of
  // the distance to the live edge (latency); null while neither is known.
  function hlsDelaySeconds(latency, playingDateMs, nowMs) {
    if (typeof playingDateMs === 'number' && isFinite(playingDateMs) && playingDateMs > 0) {
      const behind = (nowMs - playingDateMs) / 1000;
      if (behind >= 0) return behind; // a negative one is clock skew: use latency
    }
    return typeof latency === 'number' && isFinite(latency) && latency > 0 ? latency : null;
  }

  // formatDelay writes a delay the way the page shows it: WebRTC in
  // milliseconds ("≈ 85 ms"), HLS in seconds ("≈ 4.2 s"); '' when unknown.
  function formatDelay(unit, value) {
    if (typeof value !== 'number' || !isFinite(value) || value < 0) return '';
    if (unit === 'ms') return '≈ ' + Math.round(value) + ' ms';
    return '≈ ' + (value < 10 ? value.toFixed(1) : String(Math.round(value))) + ' s';
  }

  // hlsLabel names the HLS flavour of a level's details (hls.js
  // LevelDetails): LL-HLS once the playlist has EXT-X-PART parts.
  function hlsLabel(details) {
    return details && details.partList && details.partList.length > 0 ? 'LL-HLS' : 'HLS';
  }

  // ladderOrder returns the indexes of renditions ({height, bitrate})
  // highest first, the way the quality picker lists them.
  function ladderOrder(levels) {
    return (levels || []).map((l, i) => i).sort((a, b) =>
      (levels[b].height || 0) - (levels[a].height || 0) || (levels[b].bitrate || 0) - (levels[a].bitrate || 0));
  }

  // closestLevel finds the hls.js level for a rendition the API named
  // ({height, bitrate}): the same height, nearest bitrate; -1 if none.
  function closestLevel(levels, want) {
    let best = -1;
    (levels || []).forEach((l, i) => {
      if ((l.height || 0) !== (want.height || 0)) return;
      if (best < 0 || Math.abs(l.bitrate - want.bitrate) < Math.abs(levels[best].bitrate - want.bitrate)) best = i;
    });
    return best;
  }

  root.CastnetPlayback = Object.freeze({
    MODES,
    modeFromSearch,
    searchWithMode,
    retryAfterMs,
    whepNext,
    webrtcSample,
    webrtcDelayMs,
    hlsDelaySeconds,
    formatDelay,
    hlsLabel,
    ladderOrder,
    closestLevel,
  });
})(globalThis);
