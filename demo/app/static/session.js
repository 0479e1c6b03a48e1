// The dashboard's "In this browser" panel. No framework, and no token: the
// token cookies are HttpOnly. It reads authlayer's expiry hint cookie
// (cookies.expiryHint: the access token's exp in Unix seconds, nothing
// else) to count down, and asks authlayer's session endpoint
// (endpoints.session) a few seconds before that time. authlayer, seeing
// the token that close to its expiry (refresh.proactiveWindow), refreshes
// it on that request: the new cookies, and a later hint, come back with
// the answer.
//
// That refresh never reaches the app (authlayer answers the session
// endpoint itself), so the page the app rendered would go stale: the
// script keeps the "Access token" and "Last refreshed" cards and the
// claims table in step with the hint and the session endpoint's answer.
(function () {
  "use strict";
  var panel = document.getElementById("session-live");
  if (!panel || !window.fetch) {
    return;
  }
  var endpoint = panel.getAttribute("data-session");
  var hintName = panel.getAttribute("data-hint");
  var lead = 3; // seconds before the expiry to ask
  var byId = function (id) {
    return document.getElementById(id);
  };
  var expiresEl = byId("session-expires");
  var stateEl = byId("session-state");
  var refreshesEl = byId("session-refreshes");
  // The cards, as the app rendered them.
  var tokenExpiry = byId("token-expiry");
  var tokenNote = byId("token-expiry-note");
  var lastRefreshed = byId("last-refreshed");
  var lastNote = byId("last-refreshed-note");
  var userJSON = byId("user-json");
  var lastExp = hint();
  var refreshedAt = lastNote ? Number(lastNote.getAttribute("data-at")) || 0 : 0;
  var refreshes = 0;
  var timer = 0;

  function hint() {
    var m = document.cookie.match(new RegExp("(?:^|; )" + hintName + "=(\\d+)"));
    return m ? Number(m[1]) : 0;
  }

  function now() {
    return Date.now() / 1000;
  }

  function clock(t) {
    return new Date(t * 1000).toISOString().slice(11, 19) + " UTC";
  }

  // duration and relative write times as the app does ("9s", "1m5s";
  // "in 9s", "3s ago").
  function duration(s) {
    var m = Math.floor(s / 60);
    return m ? m + "m" + (s % 60) + "s" : s + "s";
  }

  // Whole seconds, rounded up ahead and down behind, as the countdown in
  // the session panel.
  function relative(t) {
    var d = t - now();
    if (d > 0) {
      return "in " + duration(Math.ceil(d));
    }
    d = Math.floor(-d);
    return d > 0 ? duration(d) + " ago" : "now";
  }

  // showExpiry puts the current token's expiry on the "Access token" card.
  function showExpiry(exp) {
    if (!tokenExpiry || !tokenNote || !exp) {
      return;
    }
    tokenExpiry.textContent = clock(exp);
    tokenNote.setAttribute("data-at", String(exp));
  }

  // showRefreshed puts a refresh's time on the "Last refreshed" card.
  function showRefreshed(t) {
    if (!lastRefreshed || !lastNote || !t) {
      return;
    }
    refreshedAt = t;
    lastRefreshed.textContent = clock(t);
    lastNote.setAttribute("data-at", String(t));
  }

  // notes keep the cards' relative times current.
  function notes() {
    var exp = tokenNote ? Number(tokenNote.getAttribute("data-at")) : 0;
    if (exp) {
      tokenNote.textContent = (exp > now() ? "expires " : "expired ") + relative(exp);
    }
    if (refreshedAt && lastNote) {
      lastNote.textContent = relative(refreshedAt);
    }
  }

  // claimText renders one claim as the app's table does.
  function claimText(key, v) {
    if (typeof v === "string") {
      return v;
    }
    if (typeof v === "number") {
      var s = String(v);
      if ((key === "exp" || key === "iat" || key === "nbf" || key === "auth_time") && v > 0 && v % 1 === 0) {
        s += " (" + clock(v) + ")";
      }
      return s;
    }
    return v === undefined ? "" : JSON.stringify(v);
  }

  // showUser puts the session's user object (the new token's claims after
  // a refresh) in the table and the decoded X-Auth-User block.
  function showUser(user) {
    var rows = document.querySelectorAll("tr[data-claim]");
    for (var i = 0; i < rows.length; i++) {
      var key = rows[i].getAttribute("data-claim");
      var cell = rows[i].querySelector("td code");
      if (cell && Object.prototype.hasOwnProperty.call(user, key)) {
        cell.textContent = claimText(key, user[key]);
      }
    }
    if (userJSON) {
      userJSON.textContent = JSON.stringify(user, null, 2);
    }
  }

  // applySession follows a session answer: the expiry, the user's claims,
  // and when the token says it was refreshed (iat after auth_time, the
  // sign-in), which is more exact than the moment the script noticed.
  function applySession(s) {
    if (!s.authenticated || !s.user || typeof s.user !== "object") {
      return;
    }
    showExpiry(hint() || s.expiresAt);
    showUser(s.user);
    var iat = s.user.iat;
    var signedIn = s.user.auth_time;
    if (typeof iat === "number" && typeof signedIn === "number" && iat > signedIn && iat > refreshedAt - 5) {
      showRefreshed(iat);
    }
  }

  // tick shows the countdown, and notices a new expiry: a refresh.
  function tick() {
    var exp = hint();
    if (exp && lastExp && exp > lastExp) {
      refreshes++;
      var left = lastExp - now();
      refreshesEl.textContent = refreshes + (refreshes === 1 ? " time" : " times") + ", last at " + clock(now()) +
        (left > 0 ? ", " + Math.round(left) + " s before the old token expired" : ", after the old token had expired");
      showRefreshed(Math.floor(now()));
    }
    if (exp) {
      lastExp = exp;
      showExpiry(exp);
    }
    if (!exp) {
      expiresEl.textContent = "no expiry hint (signed out?)";
    } else if (exp > now()) {
      expiresEl.textContent = "in " + Math.ceil(exp - now()) + " s (" + clock(exp) + ")";
    } else {
      expiresEl.textContent = "expired at " + clock(exp);
    }
    notes();
  }

  function ask() {
    fetch(endpoint, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json();
      })
      .then(function (s) {
        // The name, else the username, else the id (a Django backend's
        // users are simplejwt's claims: username and user_id, no name).
        var who = s.user && (s.user.name || s.user.username || s.user.sub || s.user.user_id);
        stateEl.textContent = (s.authenticated ? "signed in as " + who + " (" + s.tokenType + ")" : "not signed in") +
          ", asked at " + clock(now());
        tick();
        applySession(s);
        notes();
        schedule();
      }, function () {
        stateEl.textContent = "no answer, asking again in 5 s";
        clearTimeout(timer);
        timer = setTimeout(ask, 5000);
      });
  }

  // schedule asks again lead seconds before the expiry the hint says (at
  // least 1 s and at most 10 s from now).
  function schedule() {
    clearTimeout(timer);
    var exp = hint();
    var wait = exp ? exp - lead - now() : 10;
    timer = setTimeout(ask, Math.min(Math.max(wait, 1), 10) * 1000);
  }

  setInterval(tick, 1000);
  tick();
  ask();
})();
