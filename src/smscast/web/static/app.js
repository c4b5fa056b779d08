// smscast dashboard: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // An empty time-zone field means UTC on the server; offer the browser's own zone instead.
  for (const input of document.querySelectorAll("input[data-detect-zone]")) {
    if (!input.value) {
      try {
        input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      } catch (_) {
        // No Intl time zones: the field stays empty (UTC).
      }
    }
  }
  // After a failed submission, take keyboard and screen-reader users to the list of problems.
  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
