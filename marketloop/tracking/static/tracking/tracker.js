/*!
 * marketloop.js: the first-party web tracker of marketloop (plain ES2017, no dependencies).
 *
 * Embed it once per page, before </body> or in <head>:
 *
 *   <script src="https://marketloop.example.com/static/tracking/tracker.js"
 *           data-write-key="wk_..."                       (the website source's write key)
 *           data-endpoint="https://marketloop.example.com"  (optional: default the script's origin)
 *           data-require-consent="true"                   (optional: default false)
 *           async></script>
 *
 * What it records, as Segment events posted to {endpoint}/v1/batch:
 *   - a `page` on load (url, path, title, referrer, query string, UTM campaign);
 *   - `track "File Downloaded"` on a click on a link to a document (pdf, doc(x), xls(x),
 *     ppt(x), zip, rar, 7z), an <a download> or an element marked data-ml-download;
 *   - `identify` + `track "Form Submitted"` when a form holding an email or phone field is
 *     submitted (forms marked data-ml-ignore are skipped; password fields are never read).
 * The visitor is an anonymous id (UUID) in the first-party cookie `ml_anon` (2 years).
 *
 * Consent: with data-require-consent="true" nothing is sent and no cookie is set until
 * marketloop.consent(true); marketloop.consent(false) stops tracking and deletes ml_anon. The
 * choice is kept in the cookie `ml_consent` (a refusal is respected even where consent is not
 * required). Events before consent are dropped, not held back.
 *
 * API: marketloop.page(name?, properties?), marketloop.track(name, properties?),
 *      marketloop.identify(traits), marketloop.consent(true|false), marketloop.flush().
 * Calls made before the script has loaded go through a queue, which works before and after:
 *   window.marketloop = window.marketloop || [];
 *   marketloop.push(["consent", true]);
 *   marketloop.push(["track", "Trial Started", {plan: "pro"}]);
 */
(function () {
  "use strict";

  var VERSION = "1.0.0";
  var existing = window.marketloop;
  if (existing && existing.version) return; // embedded twice

  var ANON_COOKIE = "ml_anon";
  var CONSENT_COOKIE = "ml_consent";
  var TWO_YEARS = 2 * 365 * 24 * 3600;
  var FLUSH_MS = 1000;
  var BATCH_MAX = 20; // events per request: keeps a body far below the 64 KB beacon limit
  var FILE_RE = /\.(pdf|docx?|xlsx?|pptx?|zip|rar|7z)$/i;
  // Fields never read or named: secrets, and the site's own machinery.
  var SECRET_RE = /pass|pwd|secret|token|csrf|captcha|card|cvv|ssn|id_?card|身份证|密码/i;

  var script = document.currentScript || document.querySelector("script[data-write-key]");
  var data = (script && script.dataset) || {};
  var config = {
    writeKey: data.writeKey || "",
    endpoint: (data.endpoint || (script ? new URL(script.src, location.href).origin : "")
              ).replace(/\/+$/, ""),
    requireConsent: data.requireConsent === "true",
  };

  if (!config.writeKey) console.warn("marketloop.js: no data-write-key; nothing will be sent.");

  var queue = [];
  var timer = null;
  var pageSent = false;

  // ---- cookies and ids --------------------------------------------------------------------

  function readCookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function writeCookie(name, value, maxAge) {
    document.cookie = name + "=" + encodeURIComponent(value) + "; max-age=" + maxAge +
      "; path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function uuid() {
    // crypto.randomUUID exists only on https pages; getRandomValues everywhere.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function allowed() {
    var choice = readCookie(CONSENT_COOKIE);
    if (choice === "0") return false;
    return !config.requireConsent || choice === "1";
  }

  function anonymousId() {
    var id = readCookie(ANON_COOKIE);
    if (!id) id = uuid();
    writeCookie(ANON_COOKIE, id, TWO_YEARS); // rewritten each time: two years from the last visit
    return id;
  }

  // ---- events -----------------------------------------------------------------------------

  function pageInfo() {
    var canonical = document.querySelector("link[rel=canonical]");
    return {
      url: location.href,
      path: location.pathname,
      title: document.title,
      referrer: document.referrer,
      search: location.search,
      canonical_url: canonical ? canonical.href : undefined,
    };
  }

  function campaign() {
    var params = new URLSearchParams(location.search);
    var found = {};
    ["source", "medium", "campaign", "term", "content"].forEach(function (key) {
      var value = params.get("utm_" + key);
      // The Segment spec names utm_campaign `name` in context.campaign.
      if (value) found[key === "campaign" ? "name" : key] = value;
    });
    return found;
  }

  function enqueue(event, now) {
    if (!config.writeKey || !allowed()) return false; // before consent: dropped, not kept
    var context = {
      page: pageInfo(),
      userAgent: navigator.userAgent,
      locale: navigator.language,
      library: { name: "marketloop.js", version: VERSION },
    };
    var utm = campaign();
    if (Object.keys(utm).length) context.campaign = utm;
    event.anonymousId = anonymousId();
    event.messageId = uuid();
    event.timestamp = new Date().toISOString();
    event.context = Object.assign(context, event.context || {});
    queue.push(event);
    if (now) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
    return true;
  }

  function send(batch) {
    var url = config.endpoint + "/v1/batch";
    var body = JSON.stringify({ batch: batch, sentAt: new Date().toISOString(),
                                writeKey: config.writeKey });
    // A string body goes as text/plain: a "simple" request, so no CORS preflight. Beacons
    // and keepalive requests outlive the page (a download or a form leaving it).
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    fetch(url, { method: "POST", body: body, keepalive: true, credentials: "omit",
                 headers: { "Content-Type": "text/plain" } }).catch(function () {});
  }

  function flush() {
    clearTimeout(timer);
    timer = null;
    while (queue.length) send(queue.splice(0, BATCH_MAX));
  }

  // ---- public API -------------------------------------------------------------------------

  // The server refuses a whole batch when one event's properties are not an object.
  function object(value) {
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  }

  function page(name, properties) {
    if (typeof name !== "string") { properties = name; name = ""; }
    var event = { type: "page", properties: Object.assign(pageInfo(), object(properties)) };
    if (name) event.name = name;
    pageSent = enqueue(event) || pageSent;
  }

  function track(name, properties, now) {
    if (!name) return;
    enqueue({ type: "track", event: String(name), properties: object(properties) }, now);
  }

  function identify(traits, now) {
    enqueue({ type: "identify", traits: object(traits) }, now);
  }

  function consent(granted) {
    writeCookie(CONSENT_COOKIE, granted ? "1" : "0", TWO_YEARS);
    if (!granted) {
      queue = [];
      clearTimeout(timer);
      timer = null;
      writeCookie(ANON_COOKIE, "", 0);
      return;
    }
    if (!pageSent) page(); // the view of the page consent was given on
  }

  // ---- automatic events -------------------------------------------------------------------

  function onClick(event) {
    var target = event.target;
    var link = target instanceof Element && target.closest("a[href], [data-ml-download]");
    if (!link) return;
    var href = link.getAttribute("href") || link.getAttribute("data-ml-download") || "";
    var url;
    try { url = new URL(href, location.href); } catch (e) { return; }
    var isFile = link.hasAttribute("data-ml-download") ||
      (link.tagName === "A" && link.hasAttribute("download")) || FILE_RE.test(url.pathname);
    if (!isFile || !/^https?:$/.test(url.protocol)) return;
    var fileName = (link.getAttribute("download") ||
                    decodeURIComponent(url.pathname.split("/").pop() || "")).slice(0, 200);
    track("File Downloaded", {
      url: url.href,
      file_name: fileName,
      link_text: (link.textContent || "").replace(/\s+/g, " ").trim().slice(0, 200),
    }, true);
  }

  function fieldName(field) {
    return field.name || field.id || "";
  }

  function findField(fields, type, pattern) {
    return fields.find(function (f) { return f.type === type && f.value; }) ||
      fields.find(function (f) { return pattern.test(fieldName(f)) && f.value; });
  }

  function onSubmit(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.hasAttribute("data-ml-ignore")) return;
    var fields = Array.prototype.filter.call(form.elements, function (f) {
      return /^(INPUT|SELECT|TEXTAREA)$/.test(f.tagName) &&
        !/^(password|hidden|submit|button|reset|file|image)$/.test(f.type) &&
        !SECRET_RE.test(fieldName(f)) && !f.closest("[data-ml-ignore]");
    });
    var email = findField(fields, "email", /e-?mail|邮箱/i);
    var mobile = findField(fields, "tel", /mobile|phone|^tel$|手机|电话/i);
    var emailValue = email && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.value.trim())
      ? email.value.trim() : "";
    var mobileValue = mobile && mobile.value.replace(/\D/g, "").length >= 5
      ? mobile.value.trim() : "";
    if (!emailValue && !mobileValue) return; // a search box or a newsletter without an address
    var name = fields.find(function (f) {
      return f.value && (f.autocomplete === "name" ||
                         /^(full_?name|your_?name|contact_?name|name|姓名)$/i.test(fieldName(f)));
    });
    var company = fields.find(function (f) {
      return f.value && (f.autocomplete === "organization" ||
                         /company|organi[sz]ation|公司|单位/i.test(fieldName(f)));
    });
    var traits = {};
    if (emailValue) traits.email = emailValue;
    if (mobileValue) traits.mobile = mobileValue;
    if (name) traits.name = name.value.trim();
    if (company) traits.company = company.value.trim();
    identify(traits);
    // getAttribute: form.id and form.action return a field when one is named "id" or "action".
    var properties = {
      form_id: form.getAttribute("id") || undefined,
      form_name: form.getAttribute("name") || undefined,
      form_action: form.getAttribute("action") || undefined,
      fields: fields.map(fieldName).filter(function (n, i, all) {
        return n && all.indexOf(n) === i;
      }),
    };
    if (emailValue) properties.email = emailValue;
    if (mobileValue) properties.mobile = mobileValue;
    track("Form Submitted", properties, true); // sent now: the page is about to go
  }

  function guarded(handler) {
    return function (event) {
      try { handler(event); } catch (e) { /* tracking must never break the site */ }
    };
  }

  // ---- start ------------------------------------------------------------------------------

  var api = {
    version: VERSION,
    page: page,
    track: function (name, properties) { track(name, properties); },
    identify: function (traits) { identify(traits); },
    consent: consent,
    flush: flush,
    push: function (call) {
      var method = api[call && call[0]];
      if (typeof method === "function" && call[0] !== "push") method.apply(api, call.slice(1));
    },
  };
  window.marketloop = api;

  document.addEventListener("click", guarded(onClick), true);
  document.addEventListener("submit", guarded(onSubmit), true);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);

  if (allowed()) page();
  if (Array.isArray(existing)) existing.forEach(api.push);
})();
