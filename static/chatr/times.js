// Shows every <time datetime> in the reader's own time zone; the server rendered UTC.
"use strict";
window.chatrTimes = (() => {
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayAndClock = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

  function localize(element) {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) return;
    const today = new Date().toDateString() === moment.toDateString();
    element.textContent = (today ? clock : dayAndClock).format(moment);
    element.title = full.format(moment);
  }

  document.querySelectorAll("time[datetime]").forEach(localize);
  return { localize };
})();
