package browser_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// overflowJS lists what sticks out of a .card on the current page: any
// element or line of text reaching past the card's left or right edge,
// unless it sits inside a scrolling box (overflow auto or scroll) that is
// itself inside the card, and a page wider than the window. <details> are
// opened first, so their content is measured too.
const overflowJS = `(() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const out = [];
  const slack = 1;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const label = card => (card.id ? "#" + card.id : "") + " \"" + ((card.querySelector("h2") || {}).textContent || "").trim() + "\"";
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const inScroller = (el, card) => {
    for (let p = el.parentElement; p && p !== card; p = p.parentElement) {
      if (scrolls(p)) return true;
    }
    return false;
  };
  const past = (r, box) => Math.max(box.left - r.left, r.right - box.right);
  for (const card of document.querySelectorAll(".card")) {
    const box = card.getBoundingClientRect();
    if (box.width === 0) continue;
    for (const el of card.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if ((r.width === 0 && r.height === 0) || inScroller(el, card)) continue;
      const by = past(r, box);
      if (by > slack) out.push(label(card) + ": " + name(el) + " sticks out by " + Math.round(by) + "px");
    }
    const walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim() || inScroller(n.parentElement, card)) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) {
        const by = past(r, box);
        if (by > slack) {
          out.push(label(card) + ": text \"" + n.textContent.trim().slice(0, 40) + "…\" in " + name(n.parentElement) + " sticks out by " + Math.round(by) + "px");
          break;
        }
      }
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + slack) {
    out.unshift("the page is " + doc.scrollWidth + "px wide in a " + doc.clientWidth + "px window");
  }
  return out.length > 20 ? out.slice(0, 20).concat(["… and " + (out.length - 20) + " more"]) : out;
})()`

// longValuesJS fills the dashboard's value slots with long unbroken
// strings, as a user object holding a token, a long URL or a long id would
// (the table's cells, the decoded X-Auth-User block, the cards' values, the
// session panel, the greeting), and returns how many slots it filled. The
// page's script is stopped.
const longValuesJS = `(() => {
  // Stop the page's script (its timers) first: it would put its own
  // values back every second.
  for (let id = setTimeout(() => {}, 0); id > 0; id--) { clearTimeout(id); clearInterval(id); }
  const long = "eyJhbGciOiJFZERTQSIsImtpZCI6Ijc" + "VXNhbWt3XzZSRGdtUmh1UjZyRzJ4b3JFa2Zra0".repeat(12);
  let n = 0;
  const fill = (sel, text) => document.querySelectorAll(sel).forEach(el => { el.textContent = text; n++; });
  fill(".table td code", long);
  fill(".table tbody th", "claim_" + long.slice(0, 120));
  fill("#user-json", JSON.stringify({accessToken: long, nested: {picture: "https://cdn.example.test/" + long}, sub: "u-" + long.slice(0, 80)}, null, 2));
  fill(".card .big", long.slice(0, 90));
  fill(".card.stat .muted", "note " + long);
  fill(".facts dd", long);
  fill(".lead strong", long.slice(0, 100));
  return n;
})()`

// expectNoOverflow checks that nothing on the page sticks out of its card.
func (s *session) expectNoOverflow(what string) {
	s.t.Helper()
	if out := step(s, what+": layout", chromedp.Evaluate[[]string](overflowJS)); len(out) > 0 {
		s.t.Errorf("%s: content sticks out of its card:\n  %s", what, strings.Join(out, "\n  "))
	}
}

// expectLongValuesFit fills the dashboard with long values and checks
// that they wrap or scroll inside their cards, on a desktop window and on
// a phone-sized one, with a screenshot of each. The page is left filled:
// navigate away afterwards.
func (s *session) expectLongValuesFit(what string) {
	s.t.Helper()
	if n := step(s, what+": long values", chromedp.Evaluate[int](longValuesJS)); n < 10 {
		s.t.Fatalf("%s: only %d value slots found on the dashboard (its markup changed?)", what, n)
	}
	s.expectNoOverflow(what + " (1280 px window)")
	s.fullScreenshot("dashboard-long-values")
	step(s, "phone-sized window", chromedp.EmulateViewport(390, 844))
	defer step(s, "window back to 1280 px", chromedp.EmulateReset())
	s.expectNoOverflow(what + " (390 px window)")
	s.fullScreenshot("dashboard-long-values-phone")
}

// dashboardCards are what the dashboard shows of the token outside the
// session panel.
type dashboardCards struct {
	Expiry        string `json:"expiry"`
	ExpiryNote    string `json:"expiryNote"`
	Refreshed     string `json:"refreshed"`
	RefreshedNote string `json:"refreshedNote"`
	ExpClaim      string `json:"expClaim"`
	UserJSON      string `json:"userJSON"`
}

func (s *session) dashboardCards() dashboardCards {
	s.t.Helper()
	raw := step(s, "the dashboard's cards", chromedp.Evaluate[string](`JSON.stringify({
		expiry: (document.getElementById("token-expiry") || {}).textContent || "",
		expiryNote: (document.getElementById("token-expiry-note") || {}).textContent || "",
		refreshed: (document.getElementById("last-refreshed") || {}).textContent || "",
		refreshedNote: (document.getElementById("last-refreshed-note") || {}).textContent || "",
		expClaim: (document.querySelector('tr[data-claim="exp"] td') || {}).textContent || "",
		userJSON: (document.getElementById("user-json") || {}).textContent || "",
	})`))
	var c dashboardCards
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		s.t.Fatalf("the dashboard's cards: %v", err)
	}
	return c
}

// clockText is how the dashboard writes a time.
func clockText(t time.Time) string {
	return t.UTC().Format("15:04:05") + " UTC"
}

// expectCardsFollowRefresh waits for the dashboard's cards to show the
// token refreshed by the page's script (which the app never saw): the new
// expiry on the "Access token" card, a refresh between from and now on
// the "Last refreshed" card, and the new exp in the claims table and the
// decoded X-Auth-User block.
func (s *session) expectCardsFollowRefresh(what string, newExp int64, from time.Time) {
	s.t.Helper()
	expText := clockText(time.Unix(newExp, 0))
	var c dashboardCards
	ok := waitFor(3*time.Second, func() bool {
		c = s.dashboardCards()
		return c.Expiry == expText && c.Refreshed != "not yet" &&
			strings.HasPrefix(c.ExpClaim, strconv.FormatInt(newExp, 10)) &&
			strings.Contains(c.UserJSON, `"exp": `+strconv.FormatInt(newExp, 10))
	})
	if !ok {
		s.t.Fatalf("%s: the dashboard's cards did not follow the refresh: want expiry %s, a refresh time, exp %d in the claims; they show %+v", what, expText, newExp, c)
	}
	refreshed, err := time.Parse("15:04:05 UTC", c.Refreshed)
	if err != nil {
		s.t.Fatalf("%s: the Last refreshed card shows %q, not a time", what, c.Refreshed)
	}
	// Compare times of day (the card shows no date), a second of slack on
	// each side.
	day := func(t time.Time) time.Duration {
		t = t.UTC()
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	}
	got := day(refreshed)
	if lo, hi := day(from)-time.Second, day(time.Now())+time.Second; lo < hi && (got < lo || got > hi) {
		s.t.Errorf("%s: the Last refreshed card says %s, want a time between %s and %s", what, c.Refreshed, clockText(from), clockText(time.Now()))
	}
	if !strings.HasPrefix(c.ExpiryNote, "expires in ") {
		s.t.Errorf("%s: the Access token card's note says %q, want \"expires in …\"", what, c.ExpiryNote)
	}
}
