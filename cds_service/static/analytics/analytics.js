// The committee's page: fetch the report with the token the user typed and show it.
// The token lives in one variable of this closure: never in storage, cookies or the URL.
(function () {
  "use strict";

  let token = "";

  const form = document.getElementById("query");
  const tokenInput = document.getElementById("token");
  const since = document.getElementById("since");
  const until = document.getElementById("until");
  const status = document.getElementById("status");
  const report = document.getElementById("report");

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  const today = new Date();
  until.value = isoDay(today);
  since.value = isoDay(new Date(today.getTime() - 89 * 86400000));

  function say(text) {
    status.textContent = text;
  }

  async function show() {
    if (tokenInput.value) {
      token = tokenInput.value;
      tokenInput.value = "";
    }
    if (!token) {
      say("Enter the analytics token first.");
      tokenInput.focus();
      return;
    }
    const query = new URLSearchParams({ since: since.value, until: until.value, format: "html" });
    say("Loading the report…");
    let response;
    try {
      response = await fetch("/analytics/cards?" + query.toString(), {
        headers: { Authorization: "Bearer " + token },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      say("The service could not be reached.");
      return;
    }
    if (response.status === 401) {
      token = "";
      report.replaceChildren();
      say("The token was not accepted. Enter it again.");
      tokenInput.focus();
      return;
    }
    if (!response.ok) {
      let message = "The report could not be loaded (" + response.status + ").";
      try {
        const body = await response.json();
        if (body && typeof body.message === "string") message = body.message;
      } catch (error) { /* keep the generic message */ }
      say(message);
      return;
    }
    // Server-rendered HTML: every value in it is escaped by the service, and the page's
    // Content-Security-Policy forbids inline script, so nothing in it can run.
    const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
    report.replaceChildren(...Array.from(parsed.body.childNodes));
    say("Report for " + since.value + " to " + until.value + " loaded.");
    const heading = document.getElementById("report-title");
    if (heading) heading.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show();
  });

  document.getElementById("forget").addEventListener("click", function () {
    token = "";
    tokenInput.value = "";
    report.replaceChildren();
    say("Token forgotten.");
    tokenInput.focus();
  });
})();
