// castnet — helpers shared by the publisher (publish.js) and the player
// (watch.js). Plain browser script, no modules: it defines one global,
// CastnetCommon, and its pure functions also run under Node for the Go tests.
(function (root) {
  'use strict';

  // STREAM_NAME_RE is the stream name syntax; the server checks the same.
  const STREAM_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

  // UserError carries a message written for the person at the screen, shown
  // as is (other errors get a generic prefix).
  class UserError extends Error {
    constructor(message) {
      super(message);
      this.name = 'UserError';
    }
  }

  function isValidStreamName(name) {
    return typeof name === 'string' && STREAM_NAME_RE.test(name);
  }

  // randomStreamName returns a name like "stream-ab12" so that two tabs
  // opened at once do not collide on the server.
  function randomStreamName() {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const bytes = new Uint8Array(4);
    if (root.crypto && root.crypto.getRandomValues) {
      root.crypto.getRandomValues(bytes);
    } else {
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    let suffix = '';
    for (const b of bytes) suffix += alphabet[b % alphabet.length];
    return 'stream-' + suffix;
  }

  // streamFromPath extracts {stream} from "/watch/{stream}"; it returns ''
  // for anything else, including names the server would refuse.
  function streamFromPath(pathname) {
    const m = /^\/watch\/([^/]+)\/?$/.exec(pathname || '');
    if (!m) return '';
    let name;
    try {
      name = decodeURIComponent(m[1]);
    } catch (_) {
      return '';
    }
    return isValidStreamName(name) ? name : '';
  }

  // formatBitrate writes bits per second the way players label renditions:
  // "850 kbps", "2.1 Mbps".
  function formatBitrate(bps) {
    if (typeof bps !== 'number' || !isFinite(bps) || bps < 0) return '—';
    if (bps >= 1e6) return (bps / 1e6).toFixed(1) + ' Mbps';
    if (bps >= 1e3) return Math.round(bps / 1e3) + ' kbps';
    return Math.round(bps) + ' bps';
  }

  // formatDuration writes elapsed milliseconds as "m:ss" or "h:mm:ss".
  function formatDuration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) ms = 0;
    const total = Math.floor(ms / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return h > 0 ? h + ':' + pad(m) + ':' + pad(s) : m + ':' + pad(s);
  }

  // renditionLabel names one rung of the ladder: "720p · 2.1 Mbps".
  function renditionLabel(height, bandwidth, fallback) {
    const parts = [];
    if (height > 0) parts.push(height + 'p');
    if (bandwidth > 0) parts.push(formatBitrate(bandwidth));
    return parts.length ? parts.join(' · ') : (fallback || 'Unknown');
  }

  function fmtpParams(line) {
    const params = {};
    for (const part of (line || '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim().toLowerCase();
    }
    return params;
  }

  // codecRank orders video codecs for setCodecPreferences: H.264 with
  // packetization-mode=1 (RFC 6184 section 6.3, non-interleaved, what the
  // server depacketizes) first, constrained baseline (42e0xx, no B-frames)
  // before baseline before other profiles, then every other codec unchanged.
  function codecRank(codec) {
    if (!codec || String(codec.mimeType).toLowerCase() !== 'video/h264') return 9;
    const p = fmtpParams(codec.sdpFmtpLine);
    if (p['packetization-mode'] !== '1') return 5;
    const profile = (p['profile-level-id'] || '').slice(0, 4);
    if (profile === '42e0') return 0;
    if (profile === '4200') return 1;
    return 2;
  }

  // orderCodecs returns a copy of codecs sorted by codecRank; the sort is
  // stable, so the browser's own order survives within a rank.
  function orderCodecs(codecs) {
    return codecs
      .map((codec, i) => ({ codec, i, rank: codecRank(codec) }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .map((x) => x.codec);
  }

  // responseReason turns a refused HTTP response into one readable line: the
  // server's plain-text body (castnet writes "409 conflict: stream already
  // live"), else the status, plus Retry-After when the server sent one.
  async function responseReason(res) {
    let text = '';
    try {
      text = (await res.text()).trim();
    } catch (_) {
      text = '';
    }
    if (text.length > 300) text = text.slice(0, 300) + '…';
    if (!text || /^\s*</.test(text)) text = (res.status + ' ' + (res.statusText || '')).trim();
    else if (!text.startsWith(String(res.status))) text = res.status + ' ' + text;
    const retry = res.headers && res.headers.get('Retry-After');
    if (retry && !/retry/i.test(text)) {
      // Retry-After is delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
      text += /^\d+$/.test(retry.trim()) ? ' (retry after ' + retry.trim() + ' s)' : ' (retry after ' + retry + ')';
    }
    return text;
  }

  // describeMediaError explains a getUserMedia/getDisplayMedia failure
  // (its DOMException name) to the person at the screen.
  function describeMediaError(err, kind) {
    if (err instanceof UserError) return err.message;
    switch (err && err.name) {
      case 'NotAllowedError':
        return kind === 'screen'
          ? 'Screen sharing was cancelled or blocked. Choose a screen, window or tab to share.'
          : 'Permission denied: allow camera and microphone access for this site (in the address bar or site settings), then try again.';
      case 'NotFoundError':
      case 'OverconstrainedError':
        return 'No camera found. Connect a camera, or choose Screen share as the source.';
      case 'NotReadableError':
      case 'AbortError':
        return 'The camera could not be started; another application may be using it.';
      case 'SecurityError':
        return 'Capture is blocked on this page: it must be served over HTTPS or from localhost.';
      default:
        return 'Could not start capture: ' + ((err && (err.message || err.name)) || err);
    }
  }

  // describePublishError explains a failed Go live: server refusals arrive
  // as UserError; a TypeError from fetch means the request never got an answer.
  function describePublishError(err) {
    if (err instanceof UserError) return err.message;
    if (err instanceof TypeError) return 'Could not reach the server: ' + err.message;
    return 'Could not go live: ' + ((err && (err.message || err.name)) || err);
  }

  // setState writes a machine-readable state (data-state, used by tests and
  // CSS) and its human text on one element.
  function setState(el, state, text) {
    el.dataset.state = state;
    el.textContent = text;
  }

  root.CastnetCommon = Object.freeze({
    STREAM_NAME_RE,
    UserError,
    isValidStreamName,
    randomStreamName,
    streamFromPath,
    formatBitrate,
    formatDuration,
    renditionLabel,
    codecRank,
    orderCodecs,
    responseReason,
    describeMediaError,
    describePublishError,
    setState,
  });
})(globalThis);
