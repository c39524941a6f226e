// castnet watch page: plays /hls/{stream}/index.m3u8 with hls.js where Media
// Source Extensions exist, else with the browser's native HLS. The page state
// (waiting | live | ended | error) comes from polling /api/streams/{stream}.
(function () {
  'use strict';
  const C = globalThis.CastnetCommon;
  const Hls = window.Hls; // absent when hls.js was not vendored
  const $ = (id) => document.getElementById(id);
  const el = {
    title: $('title'), state: $('state'), player: $('player'), overlay: $('overlay'),
    overlaytext: $('overlaytext'), unmute: $('unmute'), renditions: $('renditions'),
    level: $('level'), segments: $('segments'), notice: $('notice'),
  };
  const POLL_MS = 2000;
  const RETRY_MS = 2000;
  const WAITING_TEXT = 'Waiting for the stream to start…';

  const w = {
    stream: C.streamFromPath(location.pathname),
    state: 'waiting',
    engine: '', // 'hls.js' | 'native' | ''
    info: null, // last /api/streams answer
    attached: false,
    hls: null,
    mediaErrors: [], // times of recent fatal media errors
  };

  window.castnet = Object.freeze({
    get state() { return w.state; },
    get engine() { return w.engine; },
    get level() { return w.hls ? w.hls.currentLevel : -1; },
  });

  function setState(state, text) {
    w.state = state;
    C.setState(el.state, state, text);
  }

  function notice(text) {
    el.notice.textContent = text || '';
  }

  function overlay(text) {
    el.overlay.hidden = !text;
    if (text) el.overlaytext.textContent = text;
  }

  function pickEngine() {
    if (Hls && Hls.isSupported()) return 'hls.js';
    if (el.player.canPlayType('application/vnd.apple.mpegurl')) return 'native';
    return '';
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
      setTimeout(poll, POLL_MS);
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
    if (info.state === 'live') setState('live', 'LIVE');
    else if (info.state === 'ended') setState('ended', segments ? 'Ended — playing the recording' : 'Ended');
    else setState('waiting', WAITING_TEXT);
    notice(info.last_error ? 'Server reports: ' + info.last_error : '');
    // The same name starting again after it ended is a new broadcast:
    // start over from its fresh playlist once it has one.
    if (prev && prev.state === 'ended' && info.state !== 'ended' && w.attached) detach();
    const playable = info.state === 'live' || segments > 0;
    if (!w.attached) {
      if (playable) attach();
      else overlay(info.state === 'ended' ? 'The stream has ended.' : WAITING_TEXT);
    }
  }

  // --- player ------------------------------------------------------------------

  function playlistURL() {
    return '/hls/' + encodeURIComponent(w.stream) + '/index.m3u8';
  }

  function attach() {
    w.attached = true;
    overlay('Loading…');
    if (w.engine === 'hls.js') attachHlsJS(playlistURL());
    else attachNative(playlistURL());
  }

  function detach() {
    if (w.hls) w.hls.destroy();
    w.hls = null;
    if (w.engine === 'native') {
      el.player.removeAttribute('src');
      el.player.load();
    }
    w.attached = false;
    resetRenditions();
  }

  // restart drops the player; the next poll attaches a fresh one, so a
  // stream whose playlist is not written yet is simply tried again.
  function restart(message) {
    detach();
    notice(message);
    overlay(message);
  }

  function attachHlsJS(src) {
    const hls = new Hls({
      lowLatencyMode: false, // plain HLS segments, not LL-HLS parts
      liveSyncDurationCount: 3,
      backBufferLength: 60,
    });
    w.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      fillRenditions(hls);
      play();
    });
    hls.on(Hls.Events.LEVELS_UPDATED, () => fillRenditions(hls));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => showLevel(hls, data.level));
    hls.on(Hls.Events.ERROR, (_, data) => onHlsError(hls, data));
    hls.loadSource(src);
    hls.attachMedia(el.player);
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

  function play() {
    const p = el.player.play();
    if (p && p.catch) {
      p.catch((err) => {
        if (err && err.name === 'NotAllowedError') overlay('Press play to start watching.');
      });
    }
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
  }

  // fillRenditions lists the ladder highest first; option values are
  // hls.js level indexes, -1 meaning automatic selection.
  function fillRenditions(hls) {
    const levels = hls.levels || [];
    const order = levels.map((l, i) => i).sort((a, b) =>
      (levels[b].height || 0) - (levels[a].height || 0) || (levels[b].bitrate || 0) - (levels[a].bitrate || 0));
    el.renditions.replaceChildren(option('-1', 'Auto'));
    for (const i of order) {
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
    if (!w.hls) return;
    // currentLevel switches now (flushing the buffer); -1 returns to auto.
    w.hls.currentLevel = Number(el.renditions.value);
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
    if (w.engine !== 'native' || !w.attached) return;
    const err = el.player.error;
    restart('Playback failed' + (err && err.message ? ' (' + err.message + ')' : '') + ' — retrying…');
  }

  function init() {
    if (!w.stream) {
      setState('error', 'Invalid stream address');
      overlay('This is not a valid stream address.');
      return;
    }
    document.title = w.stream + ' · castnet';
    el.title.textContent = w.stream;
    el.player.muted = true; // browsers only autoplay muted video
    el.player.addEventListener('volumechange', syncUnmute);
    el.player.addEventListener('playing', () => { overlay(''); if (!w.info || !w.info.last_error) notice(''); });
    el.player.addEventListener('error', onNativeError);
    el.unmute.addEventListener('click', unmute);
    el.renditions.addEventListener('change', onRenditionChange);
    syncUnmute();
    w.engine = pickEngine();
    if (!w.engine) {
      setState('error', 'This browser cannot play HLS');
      overlay('This browser cannot play the stream: hls.js is not available and there is no native HLS support.');
      return;
    }
    poll();
  }

  init();
})();
