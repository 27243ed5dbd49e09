/*! callpath widget: shows a tracking number to each visitor. No dependencies, ES2017.
 *  <script src="https://HOST/widget.js" data-site="SITE_KEY" async></script>
 *  Options (data- attributes), API and failure behaviour: docs/widget.md */
(function () {
  'use strict';

  var w = window;
  var d = document;
  var prev = w.callpath;
  if (prev && typeof prev.getNumber === 'function') return; // the snippet is on the page twice

  var TIMEOUT_MS = 1500;
  var ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var SEP = '[\\s\\u00a0().-]*';
  var SKIP_TEXT_IN = /^(SCRIPT|STYLE|NOSCRIPT|TEXTAREA|TEMPLATE|IFRAME|SVG)$/i;
  var NOT_FOUND = {};

  var current = null; // {number, display, sessionId, visitorId}
  var listeners = [];
  var api = {
    on: function (event, cb) {
      if (event === 'number' && typeof cb === 'function') {
        listeners.push(cb);
        if (current) fire(cb);
      }
      return api;
    },
    off: function (event, cb) {
      listeners = listeners.filter(function (f) { return f !== cb; });
      return api;
    },
    getNumber: function () {
      return current ? snapshot() : null;
    },
    push: function (command) {
      run(command);
    }
  };
  w.callpath = api;

  function run(command) {
    try {
      if (typeof command === 'function') command(api);
      else if (command && (command[0] === 'on' || command[0] === 'off')) {
        api[command[0]].apply(api, Array.prototype.slice.call(command, 1));
      }
    } catch (e) {
      rethrow(e);
    }
  }

  // A site's own callback is the site's business: report its error, never stop ours.
  function rethrow(e) {
    setTimeout(function () { throw e; }, 0);
  }

  function snapshot() {
    return {
      number: current.number,
      display: current.display,
      sessionId: current.sessionId,
      visitorId: current.visitorId
    };
  }

  function fire(cb) {
    try {
      cb(snapshot());
    } catch (e) {
      rethrow(e);
    }
  }

  try {
    init();
  } catch (e) {
    // Failure-safe: whatever went wrong, the page keeps its own number.
  }

  function init() {
    var script = d.currentScript || d.querySelector('script[data-site][src*="widget"]');
    if (!script) return;
    var opt = function (name, fallback) {
      var v = script.getAttribute('data-' + name);
      return v === null || v === '' ? fallback : v;
    };
    var site = opt('site', '');
    var base = opt('api', '');
    if (!base) {
      try { base = new URL(script.src, location.href).origin; } catch (e) { base = ''; }
    }
    base = base.replace(/\/+$/, '');
    var selector = opt('selector', '.callpath-phone');
    try { d.querySelector(selector); } catch (e) { selector = '.callpath-phone'; } // a typo in it
    var template = opt('format', '');
    var original = digitsOf(opt('replace', ''));
    var cookieDomain = opt('cookie-domain', '');
    var beatSeconds = parseFloat(opt('heartbeat', '60'));
    if (!(beatSeconds >= 0)) beatSeconds = 60;
    var beatMs = beatSeconds > 0 ? Math.max(beatSeconds, 1) * 1000 : 0;

    // Queued commands from `window.callpath = window.callpath || []; callpath.push([...])`.
    if (prev && typeof prev.length === 'number') Array.prototype.forEach.call(prev, run);

    if (!site || !base || typeof fetch !== 'function' || typeof Promise !== 'function') return;

    var vid = readVisitor();
    var sid = readSession();
    var targets = original.length >= 6 ? [national(original)] : [];
    var allLinks = !targets.length; // without data-replace every tel: link gets the number
    var textRe = null;
    var observer = null;
    var busy = false;
    var gaveUp = false;
    var lastContact = 0;
    var waitingForDom = false;

    buildTextRe();
    visit();
    if (beatMs) {
      setInterval(tick, beatMs);
      d.addEventListener('visibilitychange', function () {
        if (visible() && Date.now() - lastContact >= beatMs) tick();
      });
    }

    // --- identity ------------------------------------------------------------------------
    function readVisitor() {
      var v = null;
      try {
        var m = d.cookie.match(/(?:^|;\s*)_cp_vid=([^;]*)/);
        v = m ? decodeURIComponent(m[1]) : null;
      } catch (e) { v = null; }
      return v && ID_RE.test(v) ? v : newVisitorId();
    }

    function newVisitorId() {
      var c = w.crypto;
      if (!c || !c.getRandomValues) return null; // the service will assign one
      var chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
      var bytes = c.getRandomValues(new Uint8Array(20));
      var id = 'v_';
      for (var i = 0; i < bytes.length; i++) id += chars.charAt(bytes[i] % chars.length);
      return id;
    }

    function saveVisitor(v) {
      try {
        d.cookie = '_cp_vid=' + v + '; max-age=31536000; path=/; SameSite=Lax' +
          (cookieDomain ? '; domain=' + cookieDomain : '') +
          (location.protocol === 'https:' ? '; Secure' : '');
      } catch (e) { /* cookies blocked */ }
    }

    function readSession() {
      try {
        var s = sessionStorage.getItem('_cp_sid');
        return s && ID_RE.test(s) ? s : null;
      } catch (e) { return null; }
    }

    function saveSession(s) {
      try {
        if (s) sessionStorage.setItem('_cp_sid', s);
        else sessionStorage.removeItem('_cp_sid');
      } catch (e) { /* storage blocked */ }
    }

    // --- talking to the service ----------------------------------------------------------
    // Resolves to the JSON body, NOT_FOUND on 404, or null on any other failure or after
    // TIMEOUT_MS: a late answer is aborted and never applied.
    function post(path, body) {
      var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
      var timer;
      var request = fetch(base + path, {
        method: 'POST',
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: ctrl ? ctrl.signal : undefined
      }).then(function (r) {
        if (r.status === 404) return NOT_FOUND;
        return r.ok ? r.json() : null;
      });
      var deadline = new Promise(function (resolve) {
        timer = setTimeout(function () {
          if (ctrl) ctrl.abort();
          resolve(null);
        }, TIMEOUT_MS);
      });
      return Promise.race([request, deadline]).then(function (result) {
        clearTimeout(timer);
        return result;
      }, function () {
        clearTimeout(timer);
        return null;
      });
    }

    async function visit() {
      try {
        var body = { site_key: site, page_url: clip(location.href), referrer: clip(d.referrer) || null };
        if (vid) body.visitor_id = vid;
        if (sid) body.session_id = sid;
        var res = await post('/v1/visits', body);
        if (res === NOT_FOUND) gaveUp = true; // unknown site key: do not keep asking
        else accept(res);
      } catch (e) {
        /* nothing reaches the page */
      }
    }

    async function tick() {
      if (busy || gaveUp || !visible()) return;
      busy = true;
      try {
        if (!sid) {
          await visit(); // the first visit failed: try again on the next beat
          return;
        }
        var res = await post('/v1/visits/' + encodeURIComponent(sid) + '/ping', { site_key: site });
        if (res === NOT_FOUND) {
          sid = null; // the session ended on the server: start a new one
          saveSession(null);
          await visit();
        } else {
          accept(res);
        }
      } catch (e) {
        /* never let a heartbeat throw into the page */
      } finally {
        busy = false;
      }
    }

    function accept(res) {
      if (!res || typeof res !== 'object') return;
      lastContact = Date.now();
      if (typeof res.session_id === 'string' && ID_RE.test(res.session_id)) {
        sid = res.session_id;
        saveSession(sid);
      }
      if (typeof res.visitor_id === 'string' && ID_RE.test(res.visitor_id)) {
        vid = res.visitor_id;
        saveVisitor(vid);
      }
      var number = res.number;
      if (typeof number !== 'string' || !/^\+\d{6,15}$/.test(number)) return;
      var shown = format(number, typeof res.number_display === 'string' ? res.number_display : '');
      var changed = !current || current.number !== number || current.display !== shown;
      if (current && current.number !== number) {
        // A new lease: the number shown so far must be replaced as well.
        var old = national(digitsOf(current.number));
        if (targets.indexOf(old) < 0) targets.push(old);
      }
      var mine = national(digitsOf(number));
      targets = targets.filter(function (t) { return t !== mine; });
      buildTextRe();
      current = { number: number, display: shown, sessionId: sid, visitorId: vid };
      if (!changed) return;
      show();
      listeners.slice().forEach(fire);
    }

    // --- showing the number --------------------------------------------------------------
    function format(number, serverDisplay) {
      var digits = digitsOf(number);
      var slots = (template.match(/X/g) || []).length;
      if (slots && slots <= digits.length) {
        var i = digits.length - slots; // the last `slots` digits: the national number
        return template.replace(/X/g, function () { return digits.charAt(i++); });
      }
      return serverDisplay || number;
    }

    function show() {
      safely(function () { apply(d.body); });
      if (d.readyState === 'loading' && !waitingForDom) {
        waitingForDom = true;
        d.addEventListener('DOMContentLoaded', function () {
          safely(function () { apply(d.body); });
        });
      }
      if (!observer && typeof MutationObserver === 'function') {
        observer = new MutationObserver(function (records) {
          safely(function () { records.forEach(onMutation); });
        });
        observer.observe(d.documentElement, { childList: true, subtree: true, characterData: true });
      }
    }

    function onMutation(record) {
      if (record.type === 'characterData') return applyText(record.target);
      Array.prototype.forEach.call(record.addedNodes, function (node) {
        if (node.nodeType === 1) apply(node);
        else if (node.nodeType === 3) applyText(node);
      });
    }

    // A text node changed or arrived: its element may be a placeholder, or it may hold
    // the site's own number.
    function applyText(node) {
      var parent = node.parentNode;
      if (parent && parent.nodeType === 1 && matches(parent, selector)) setText(parent);
      else replaceInText(node);
    }

    function apply(root) {
      if (!current || !root) return;
      all(root, selector).forEach(setText);
      all(root, 'a[href^="tel:"]').forEach(function (link) {
        var href = link.getAttribute('href') || '';
        var want = 'tel:' + current.number;
        if (href === want) return;
        // With data-replace only the links to the site's own number move; otherwise all.
        if (allLinks || isTarget(href) || matches(link, selector)) link.setAttribute('href', want);
      });
      if (!textRe || !d.body || !d.body.contains(root)) return;
      var walker = d.createTreeWalker(root, 4 /* NodeFilter.SHOW_TEXT */, null);
      var nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      nodes.forEach(replaceInText);
    }

    function setText(el) {
      if (el.textContent !== current.display) el.textContent = current.display;
    }

    function replaceInText(node) {
      if (!textRe || !current || !d.body || !d.body.contains(node)) return;
      for (var p = node.parentNode; p && p !== d.body; p = p.parentNode) {
        if (SKIP_TEXT_IN.test(p.nodeName) || p.isContentEditable) return;
      }
      var text = node.nodeValue;
      textRe.lastIndex = 0;
      if (!text || !textRe.test(text)) return;
      var shown = current.display;
      var next = text.replace(textRe, function (match, lead) { return lead + shown; });
      if (next !== text) node.nodeValue = next;
    }

    function buildTextRe() {
      textRe = targets.length
        ? new RegExp('(^|[^\\d+])(?:' + targets.map(pattern).join('|') + ')(?!\\d)', 'g')
        : null;
    }

    // The digits of one number with any formatting between them; +7/8 trunk prefixes optional.
    function pattern(nat) {
      var prefix = nat.length === 10 ? '(?:(?:\\+\\s*7|8)' + SEP + ')?' : '(?:\\+\\s*)?';
      return prefix + '\\(?' + nat.split('').join(SEP);
    }

    function isTarget(href) {
      var nat = national(digitsOf(href));
      return targets.indexOf(nat) >= 0;
    }

    function visible() {
      return !d.visibilityState || d.visibilityState === 'visible';
    }
  }

  // --- helpers ---------------------------------------------------------------------------
  function digitsOf(text) {
    return String(text || '').replace(/\D/g, '');
  }

  // Russian numbers compare on their 10 national digits: +7 495…, 7 495… and 8 495… are one.
  function national(digits) {
    return digits.length === 11 && (digits[0] === '7' || digits[0] === '8') ? digits.slice(1) : digits;
  }

  function clip(text) {
    text = String(text || '');
    return text.length > 2048 ? text.slice(0, 2048) : text;
  }

  function matches(el, sel) {
    var fn = el.matches || el.webkitMatchesSelector || el.msMatchesSelector;
    return !!fn && fn.call(el, sel);
  }

  function all(root, sel) {
    var found = root.nodeType === 1 && matches(root, sel) ? [root] : [];
    return found.concat(Array.prototype.slice.call(root.querySelectorAll(sel)));
  }

  function safely(fn) {
    try {
      fn();
    } catch (e) {
      /* a broken selector or an exotic DOM must not break the page */
    }
  }
})();
