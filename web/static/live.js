// Live regions: the server says (server-sent events from /live/events) when anything shown may have changed;
// then each element with data-live-src is fetched again and replaced. No build step, no inline script.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) {
    return;
  }
  var banner = document.getElementById("scheduler");
  var calendars = document.querySelector("[data-live-calendars]");
  var last = banner ? banner.getAttribute("data-live-marker") : null;
  if (last !== null && calendars) {
    last = last + "-" + calendars.getAttribute("data-live-calendars");
  }
  var source = new EventSource("/live/events" + (calendars ? "?calendars=1" : ""));

  function focusedInside(region) {
    var active = document.activeElement;
    return active && active !== document.body && region.contains(active);
  }

  function refresh(region) {
    // Someone typing or on a button here keeps what they have: it is refreshed at the next change.
    if (focusedInside(region)) {
      return;
    }
    fetch(region.getAttribute("data-live-src"), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (answer.status === 401) {
          window.location.reload(); // signed out meanwhile: the page asks to sign in again
          return null;
        }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== region.liveHtml) {
          region.liveHtml = html;
          region.innerHTML = html;
          document.dispatchEvent(new CustomEvent("live:updated", { detail: region.id }));
        }
      })
      .catch(function () {
        /* the next change tries again */
      });
  }

  source.addEventListener("change", function (event) {
    if (event.data === last) {
      return;
    }
    last = event.data;
    var regions = document.querySelectorAll("[data-live-src]");
    for (var i = 0; i < regions.length; i += 1) {
      refresh(regions[i]);
    }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (signed out): reloading shows the sign-in page.
      fetch("/live/banner", { credentials: "same-origin" }).then(function (answer) {
        if (answer.status === 401) {
          window.location.reload();
        }
      });
    }
  });
})();
