// castnet watch page. A live stream plays over WebRTC (WHEP, whep.js) for
// sub-second delay; the page falls back to HLS (/hls/{stream}/index.m3u8,
// hls.js where Media Source Extensions exist, else the browser's native HLS)
// when WebRTC cannot play, and a recording always plays over HLS. ?mode=hls
// or ?mode=webrtc is a viewer's hand choice (the Playback picker writes it).
// The page state (waiting | live | ended | error) comes from polling
// /api/streams/{stream}; while waiting the page sends no offer.
(function () {
  'use strict';
  const C = globalThis.CastnetCommon;
  const P = globalThis.CastnetPlayback;
  const WHEP = globalThis.CastnetWHEP;
  const Hls = window.Hls; // absent when hls.js was not vendored
  const $ = (id) => document.getElementById(id);
  const el = {
    title: $('title'), state: $('state'), player: $('player'), overlay: $('overlay'),
    overlaytext: $('overlaytext'), unmute: $('unmute'), renditions: $('renditions'),
    level: $('level'), segments: $('segments'), error: $('error'), mode: $('mode'),
    via: $('via'), vianote: $('vianote'), delaybox: $('delaybox'), delay: $('delay'),
  };
  const POLL_MS = 2000;
  const WAITING_POLL_MS = 1000; // while nothing plays: start soon after going live
  const RETRY_MS = 2000;
  const DELAY_MS = 1000;
  const WAITING_TEXT = 'Waiting for the stream to start…';
  const WEBRTC_LABEL = 'WebRTC (WHEP)';

  const w = {
    stream: C.streamFromPath(location.pathname),
    state: 'waiting',
    engine: '', // the HLS engine: 'hls.js' | 'native' | ''
    mode: P.modeFromSearch(location.search), // 'auto' | 'webrtc' | 'hls'
    playing: '', // what is attached now: 'webrtc' | 'hls' | ''
    info: null, // last /api/streams answer
    attached: false,
    whep: null, // the WHEP session
    hls: null,
    mediaErrors: [], // times of recent fatal media errors
    fellBack: false, // the automatic mode gave up on WebRTC for this broadcast
    whepRetries: 0,
    retryTimer: 0,
    whepDelayMs: null, // the last WebRTC delay measured
    delayMs: null, // the delay shown, in milliseconds
    viaNote: '', // why HLS plays when WebRTC was wanted
    pinned: null, // {height, bitrate}: a rendition picked while on WebRTC
    failures: [], // the last WebRTC failures, for window.castnet
    ladder: [], // the API's renditions listed while on WebRTC
    ladderKey: '',
  };

  // window.castnet is what tests and curious viewers read: engine is the
  // HLS engine, playing what is attached, delayMs the delay shown.
  window.castnet = Object.freeze({
    get state() { return w.state; },
    get engine() { return w.engine; },
    get mode() { return w.mode; },
    get playing() { return w.playing; },
    get delayMs() { return w.delayMs; },
    get failures() { return w.failures.slice(); },
    get level() { return w.hls ? w.hls.currentLevel : -1; },
  });

  function setState(state, text) {
    w.state = state;
    C.setState(el.state, state, text);
  }

  function notice(text) {
    el.error.textContent = text || '';
  }

  function overlay(text) {
    el.overlay.hidden = !text;
    if (text) el.overlaytext.textContent = text;
  }

  // showVia names what plays, with a note on why when it is not what was
  // wanted; it writes only changes, since #via is a live region.
  function showVia(label, note) {
    if (el.via.textContent !== label) el.via.textContent = label;
    const n = note ? ' — ' + note : '';
    if (el.vianote.textContent !== n) el.vianote.textContent = n;
  }

  function pickEngine() {
    if (Hls && Hls.isSupported()) return 'hls.js';
    if (el.player.canPlayType('application/vnd.apple.mpegurl')) return 'native';
    return '';
  }

  function isLive() {
    return !!w.info && w.info.state === 'live';
  }

  // --- stream state ------------------------------------------------------------

  async function poll() {
    try {
      const res = await fetch('/api/streams/' + encodeURIComponent(w.stream), {
        cache: 'no-store',
        headers: { Accept: 'application/json' },
      });
      if (res.status === 404) onUnknown();
      else if (!res.ok) onPollError(await C.responseReason(res));
      else onInfo(await res.json());
    } catch (err) {
      onPollError(err && err.message ? err.message : String(err));
    } finally {
      setTimeout(poll, w.attached || (w.info && w.info.state === 'ended') ? POLL_MS : WAITING_POLL_MS);
    }
  }

  // onUnknown: the server has not heard of the stream (yet); keep asking.
  function onUnknown() {
    w.info = null;
    if (w.attached) return; // keep playing what is buffered
    setState('waiting', WAITING_TEXT);
    overlay(WAITING_TEXT);
    notice('');
  }

  function onPollError(reason) {
    if (w.attached) return; // the player has its own retries
    setState('error', 'Cannot reach the server — retrying…');
    overlay('Cannot reach the server — retrying…');
    notice('Stream status unavailable: ' + reason);
  }

  function onInfo(info) {
    const prev = w.info;
    w.info = info;
    const segments = Number(info.segments) || 0;
    el.segments.textContent = segments ? segments + (segments === 1 ? ' segment' : ' segments') : '';
    showState(info, segments);
    notice(info.last_error ? 'Server reports: ' + info.last_error : '');
    // The same name starting again after it ended is a new broadcast:
    // start over, on WebRTC again, once it plays.
    const fresh = prev && prev.state === 'ended' && info.state !== 'ended';
    if (fresh) { w.fellBack = false; w.whepRetries = 0; w.viaNote = ''; }
    // WebRTC carries only the live stream: when it ends, the recording
    // plays over HLS.
    if (w.attached && (fresh || (w.playing === 'webrtc' && info.state !== 'live'))) detach();
    if (w.playing === 'webrtc') showLadder(info.renditions || []);
    if (!w.attached) {
      if (info.state === 'live' || segments > 0) attach();
      else overlay(info.state === 'ended' ? 'The stream has ended.' : WAITING_TEXT);
    }
  }

  function showState(info, segments) {
    if (info.state === 'live') setState('live', 'LIVE');
    else if (info.state === 'ended') setState('ended', segments ? 'Ended — playing the recording' : 'Ended');
    else setState('waiting', WAITING_TEXT);
  }

  // --- attaching a player ------------------------------------------------------

  // wantWebRTC: the stream is live, the browser has WebRTC, and neither the
  // viewer nor an earlier failure chose HLS.
  function wantWebRTC() {
    if (!isLive() || !WHEP.supported() || w.mode === 'hls') return false;
    return w.mode === 'webrtc' || !w.fellBack || !w.engine;
  }

  function attach() {
    w.attached = true;
    overlay('Loading…');
    if (wantWebRTC()) startWebRTC();
    else startHLS();
    syncModePicker();
  }

  function detach() {
    clearTimeout(w.retryTimer);
    w.retryTimer = 0;
    if (w.whep) w.whep.stop(); // DELETEs the session
    w.whep = null;
    if (w.hls) w.hls.destroy();
    w.hls = null;
    if (w.playing === 'hls' && w.engine === 'native') {
      el.player.removeAttribute('src');
      el.player.load();
    }
    w.attached = false;
    w.playing = '';
    w.whepDelayMs = null;
    resetRenditions();
    showVia('', '');
  }

  // restart drops the player; the next poll attaches a fresh one, so a
  // stream whose playlist is not written yet is simply tried again.
  function restart(message) {
    detach();
    notice(message);
    overlay(message);
  }

  function play() {
    const p = el.player.play();
    if (p && p.catch) {
      p.catch((err) => {
        if (err && err.name === 'NotAllowedError') overlay('Press play to start watching.');
      });
    }
  }

  // --- WebRTC ------------------------------------------------------------------

  function startWebRTC() {
    w.playing = 'webrtc';
    showVia(WEBRTC_LABEL, 'connecting…');
    showLadder((w.info && w.info.renditions) || []);
    const endpoint = (w.info.playback && w.info.playback.whep) || '/whep/' + encodeURIComponent(w.stream);
    const s = WHEP.play(endpoint, el.player, {
      playing: () => { if (w.whep === s) onWebRTCPlaying(); },
      delay: (ms) => { if (w.whep === s) { w.whepDelayMs = ms; showDelay(); } },
      failed: (f) => { if (w.whep === s) onWebRTCFailed(f); },
    });
    w.whep = s;
  }

  function onWebRTCPlaying() {
    w.whepRetries = 0;
    overlay('');
    showVia(WEBRTC_LABEL, '');
  }

  // onWebRTCFailed retries WebRTC or falls back to HLS, as whepNext says.
  // A stream that is no longer live is left to the next poll, which plays
  // the recording or waits.
  function onWebRTCFailed(f) {
    console.warn('castnet: WebRTC', f.kind, f.status || '', f.reason);
    w.failures = w.failures.slice(-9).concat({ kind: f.kind, status: f.status || 0, reason: f.reason });
    w.whep = null;
    w.whepDelayMs = null;
    if (!isLive()) { detach(); return; }
    const next = P.whepNext({ mode: w.mode, failure: f, retries: w.whepRetries, hlsAvailable: !!w.engine });
    if (next.action === 'retry') {
      w.whepRetries++;
      showVia(WEBRTC_LABEL, f.reason + ' — retrying in ' + Math.ceil(next.delayMs / 1000) + ' s');
      overlay('Connecting…');
      w.retryTimer = setTimeout(retryWebRTC, next.delayMs);
      return;
    }
    w.fellBack = true;
    w.viaNote = 'low latency unavailable: ' + f.reason;
    resetRenditions();
    startHLS();
    syncModePicker();
  }

  function retryWebRTC() {
    w.retryTimer = 0;
    if (w.attached && w.playing === 'webrtc' && !w.whep && isLive()) startWebRTC();
  }

  // --- HLS ---------------------------------------------------------------------

  function playlistURL() {
    return '/hls/' + encodeURIComponent(w.stream) + '/index.m3u8';
  }

  function startHLS() {
    w.playing = 'hls';
    if (!w.engine) {
      showVia('', '');
      overlay('This browser cannot play HLS (no hls.js, no native support); only the live stream plays, over WebRTC.');
      return;
    }
    showVia('HLS', hlsNote());
    if (w.engine === 'hls.js') attachHlsJS(playlistURL());
    else attachNative(playlistURL());
  }

  function hlsNote() {
    if (w.info && w.info.state === 'ended') return 'the recording';
    if (w.mode === 'webrtc' && !WHEP.supported()) return 'this browser has no WebRTC';
    return w.viaNote;
  }

  // hls.js runs in low-latency mode: with EXT-X-PART parts it loads parts
  // and blocks on playlist reloads, and it holds back PART-HOLD-BACK (else
  // HOLD-BACK) from the live edge. liveSyncDurationCount is deliberately
  // not set: hls.js would then ignore the playlist's hold-back. Behind the
  // target it catches up by playing up to 1.25× fast rather than seeking.
  function hlsConfig() {
    return {
      lowLatencyMode: true,
      maxLiveSyncPlaybackRate: 1.25,
      backBufferLength: 30,
    };
  }

  function attachHlsJS(src) {
    const hls = new Hls(hlsConfig());
    w.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      applyPinned(hls);
      fillRenditions(hls);
      play();
    });
    hls.on(Hls.Events.LEVELS_UPDATED, () => fillRenditions(hls));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => showLevel(hls, data.level));
    hls.on(Hls.Events.ERROR, (_, data) => onHlsError(hls, data));
    hls.loadSource(src);
    hls.attachMedia(el.player);
  }

  // applyPinned plays the rendition picked while on WebRTC.
  function applyPinned(hls) {
    if (!w.pinned) return;
    const i = P.closestLevel(hls.levels, w.pinned);
    w.pinned = null;
    if (i >= 0) hls.currentLevel = i;
  }

  function attachNative(src) {
    el.player.src = src;
    el.renditions.disabled = true;
    el.level.textContent = 'Quality chosen by the browser';
    play();
  }

  const MANIFEST_ERRORS = ['manifestLoadError', 'manifestLoadTimeOut', 'manifestParsingError', 'levelEmptyError'];

  function onHlsError(hls, data) {
    if (!data.fatal || hls !== w.hls) return;
    console.warn('castnet: hls.js fatal error', data.type, data.details);
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      recoverMedia(hls);
    } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && MANIFEST_ERRORS.includes(data.details)) {
      restart('Waiting for the playlist…');
    } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      notice('Network problem — retrying…');
      setTimeout(() => { if (w.hls === hls) hls.startLoad(); }, RETRY_MS);
    } else {
      restart('Playback failed (' + data.details + ') — restarting…');
    }
  }

  // recoverMedia follows hls.js's documented ladder: recoverMediaError, then
  // swapAudioCodec as well if that fails again soon; a third failure within
  // ten seconds rebuilds the player from scratch.
  function recoverMedia(hls) {
    const now = performance.now();
    w.mediaErrors = w.mediaErrors.filter((t) => now - t < 10000).concat(now);
    if (w.mediaErrors.length > 2) {
      w.mediaErrors = [];
      restart('Playback error — restarting the player…');
      return;
    }
    notice('Recovering from a playback error…');
    if (w.mediaErrors.length === 2) hls.swapAudioCodec();
    hls.recoverMediaError();
  }

  // --- delay -------------------------------------------------------------------

  // showDelay runs every second: the measured delay behind the publisher
  // of what plays, while the stream is live, and the HLS flavour.
  function showDelay() {
    w.delayMs = null;
    let text = '';
    if (isLive() && w.playing === 'webrtc' && w.whep && w.whep.playing) {
      w.delayMs = w.whepDelayMs;
      text = P.formatDelay('ms', w.delayMs);
    } else if (isLive() && w.playing === 'hls' && w.engine) {
      const s = hlsDelaySeconds();
      w.delayMs = s === null ? null : s * 1000;
      text = P.formatDelay('s', s);
    }
    if (w.hls) showVia(P.hlsLabel(w.hls.latestLevelDetails), hlsNote());
    el.delay.textContent = text;
    el.delaybox.hidden = !text;
  }

  function hlsDelaySeconds() {
    if (w.hls) {
      const date = w.hls.playingDate;
      return P.hlsDelaySeconds(w.hls.latency, date ? date.getTime() : null, Date.now());
    }
    // Native HLS: the distance from the playhead to the live edge.
    const s = el.player.seekable;
    return s && s.length ? P.hlsDelaySeconds(s.end(s.length - 1) - el.player.currentTime, null, 0) : null;
  }

  // --- playback mode -----------------------------------------------------------

  // syncModePicker shows what plays (or, before anything does, what will).
  function syncModePicker() {
    let shown = w.playing || (w.mode === 'hls' ? 'hls' : 'webrtc');
    if (!WHEP.supported()) shown = 'hls';
    el.mode.value = shown;
  }

  function onModeChange() {
    setMode(el.mode.value, null);
  }

  // setMode is a viewer's hand choice: it goes into the URL (not storage,
  // so a shared link plays the same way) and restarts the player.
  function setMode(mode, pinned) {
    w.mode = mode;
    w.pinned = pinned;
    w.fellBack = false;
    w.whepRetries = 0;
    w.viaNote = '';
    history.replaceState(history.state, '', location.pathname + P.searchWithMode(location.search, mode) + location.hash);
    if (w.attached) detach();
    if (w.info) onInfo(w.info);
    syncModePicker();
  }

  // --- renditions --------------------------------------------------------------

  function option(value, text) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  }

  function resetRenditions() {
    el.renditions.replaceChildren(option('-1', 'Auto'));
    el.renditions.disabled = true;
    el.level.textContent = '';
    w.ladderKey = '';
  }

  // showLadder lists, while on WebRTC (which carries the publisher's own
  // picture), the stream's HLS renditions: picking one plays it over HLS.
  function showLadder(renditions) {
    const key = JSON.stringify(renditions.map((r) => [r.name, r.height, r.bandwidth]));
    if (key === w.ladderKey) return;
    w.ladderKey = key;
    const levels = renditions.map((r) => ({ name: r.name, height: r.height, bitrate: r.bandwidth }));
    el.renditions.replaceChildren(option('-1', 'Original (WebRTC)'));
    for (const i of P.ladderOrder(levels)) {
      const l = levels[i];
      el.renditions.append(option('hls:' + i, C.renditionLabel(l.height, l.bitrate, l.name) + ' (HLS)'));
    }
    el.renditions.disabled = levels.length === 0;
    el.renditions.value = '-1';
    el.level.textContent = '';
    w.ladder = levels;
  }

  // fillRenditions lists the ladder highest first; option values are
  // hls.js level indexes, -1 meaning automatic selection.
  function fillRenditions(hls) {
    const levels = hls.levels || [];
    el.renditions.replaceChildren(option('-1', 'Auto'));
    for (const i of P.ladderOrder(levels)) {
      const l = levels[i];
      el.renditions.append(option(String(i), C.renditionLabel(l.height, l.bitrate, l.name || 'Level ' + (i + 1))));
    }
    el.renditions.disabled = levels.length === 0;
    el.renditions.value = hls.autoLevelEnabled ? '-1' : String(hls.currentLevel);
    showLevel(hls, hls.currentLevel);
  }

  function showLevel(hls, index) {
    const l = hls.levels && hls.levels[index];
    const label = l ? C.renditionLabel(l.height, l.bitrate, 'Level ' + (index + 1)) : '';
    el.level.textContent = label ? 'Playing ' + label : '';
    const auto = el.renditions.querySelector('option[value="-1"]');
    if (auto) auto.textContent = hls.autoLevelEnabled && l && l.height ? 'Auto (' + l.height + 'p)' : 'Auto';
  }

  function onRenditionChange() {
    const v = el.renditions.value;
    if (w.playing === 'webrtc' && v.startsWith('hls:')) {
      const l = w.ladder[Number(v.slice(4))];
      if (l) setMode('hls', { height: l.height, bitrate: l.bitrate });
      return;
    }
    if (!w.hls) return;
    // currentLevel switches now (flushing the buffer); -1 returns to auto.
    w.hls.currentLevel = Number(v);
    showLevel(w.hls, w.hls.currentLevel);
  }

  // --- page wiring -------------------------------------------------------------

  function syncUnmute() {
    el.unmute.hidden = !el.player.muted && el.player.volume > 0;
  }

  function unmute() {
    el.player.muted = false;
    if (el.player.volume === 0) el.player.volume = 1;
    play();
  }

  function onNativeError() {
    if (w.engine !== 'native' || w.playing !== 'hls' || !w.attached) return;
    const err = el.player.error;
    restart('Playback failed' + (err && err.message ? ' (' + err.message + ')' : '') + ' — retrying…');
  }

  // The WHEP session ends with the page (DELETE with keepalive); a page
  // restored from the back-forward cache starts over.
  function onPageHide() {
    if (w.attached) detach();
  }

  function onPageShow(e) {
    if (e.persisted && w.info && !w.attached) onInfo(w.info);
  }

  function wire() {
    el.player.muted = true; // browsers only autoplay muted video
    el.player.addEventListener('volumechange', syncUnmute);
    el.player.addEventListener('playing', () => { overlay(''); if (!w.info || !w.info.last_error) notice(''); });
    el.player.addEventListener('loadedmetadata', () => { if (w.playing === 'webrtc') play(); });
    el.player.addEventListener('error', onNativeError);
    el.unmute.addEventListener('click', unmute);
    el.renditions.addEventListener('change', onRenditionChange);
    el.mode.addEventListener('change', onModeChange);
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pageshow', onPageShow);
    el.mode.querySelector('option[value="webrtc"]').disabled = !WHEP.supported();
    el.mode.querySelector('option[value="hls"]').disabled = !w.engine;
    syncUnmute();
    syncModePicker();
  }

  function init() {
    if (!w.stream) {
      setState('error', 'Invalid stream address');
      overlay('This is not a valid stream address.');
      return;
    }
    document.title = w.stream + ' · castnet';
    el.title.textContent = w.stream;
    w.engine = pickEngine();
    wire();
    if (!w.engine && !WHEP.supported()) {
      setState('error', 'This browser cannot play the stream');
      overlay('This browser cannot play the stream: it has neither WebRTC nor HLS support (hls.js or native).');
      return;
    }
    setInterval(showDelay, DELAY_MS);
    poll();
  }

  init();
})();
