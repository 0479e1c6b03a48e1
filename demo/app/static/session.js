// The dashboard's "In this browser" panel. No framework, and no token: the
// token cookies are HttpOnly. It reads authlayer's expiry hint cookie
// (cookies.expiryHint: the access token's exp in Unix seconds, nothing
// else) to count down, and asks authlayer's session endpoint
// (endpoints.session) a few seconds before that time. authlayer, seeing
// the token that close to its expiry (refresh.proactiveWindow), refreshes
// it on that request: the new cookies, and a later hint, come back with
// the answer.
(function () {
  "use strict";
  var panel = document.getElementById("session-live");
  if (!panel || !window.fetch) {
    return;
  }
  var endpoint = panel.getAttribute("data-session");
  var hintName = panel.getAttribute("data-hint");
  var lead = 3; // seconds before the expiry to ask
  var expiresEl = document.getElementById("session-expires");
  var stateEl = document.getElementById("session-state");
  var refreshesEl = document.getElementById("session-refreshes");
  var lastExp = hint();
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

  // tick shows the countdown, and notices a new expiry: a refresh.
  function tick() {
    var exp = hint();
    if (exp && lastExp && exp > lastExp) {
      refreshes++;
      var left = lastExp - now();
      refreshesEl.textContent = refreshes + (refreshes === 1 ? " time" : " times") + ", last at " + clock(now()) +
        (left > 0 ? ", " + Math.round(left) + " s before the old token expired" : ", after the old token had expired");
    }
    if (exp) {
      lastExp = exp;
    }
    if (!exp) {
      expiresEl.textContent = "no expiry hint (signed out?)";
    } else if (exp > now()) {
      expiresEl.textContent = "in " + Math.ceil(exp - now()) + " s (" + clock(exp) + ")";
    } else {
      expiresEl.textContent = "expired at " + clock(exp);
    }
  }

  function ask() {
    fetch(endpoint, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json();
      })
      .then(function (s) {
        var who = s.user && (s.user.name || s.user.sub);
        stateEl.textContent = (s.authenticated ? "signed in as " + who + " (" + s.tokenType + ")" : "not signed in") +
          ", asked at " + clock(now());
        tick();
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
